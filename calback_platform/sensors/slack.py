"""Slack: a webhook or a bot token (dagster-slack), else the alert is only logged.

Secrets never leave through an alert: every text is redacted of the configured tokens and of
anything shaped like a Slack token, webhook URL, bearer token or password before it is sent.
"""

from __future__ import annotations

import logging
import re

import dagster as dg
from dagster_slack import SlackResource
from slack_sdk.webhook import WebhookClient

_SECRET_SHAPES = [
    re.compile(r"xox[abposr]-[A-Za-z0-9-]+"),
    re.compile(r"https://hooks\.slack\.com/[^\s'\"]+"),
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{8,}"),
    re.compile(r"(?i)((?:password|passwd|secret|token|api_key|apikey)\s*[=:]\s*)[^\s,;'\"]+"),
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.S),
]
REDACTED = "[REDACTED]"


class SlackDeliveryError(RuntimeError):
    """Slack refused or could not be reached; the alert is retried on the next sensor tick."""


def redact(text: str, secrets: list[str | None] = ()) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    for shape in _SECRET_SHAPES:
        text = shape.sub(lambda m: (m.group(1) if m.groups() else "") + REDACTED, text)
    return text


class SlackNotifier(dg.ConfigurableResource):
    webhook_url: str | None = None
    bot_token: str | None = None
    channel: str | None = None
    # Slack Web API base URL; tests point it at a local server.
    api_base_url: str | None = None

    @property
    def destination(self) -> str:
        if self.webhook_url:
            return "webhook"
        if self.bot_token and self.channel:
            return "bot"
        return "log"

    def clean(self, text: str) -> str:
        return redact(text, [self.webhook_url, self.bot_token])

    def send(self, text: str, log: logging.Logger) -> str:
        """Post `text` (redacted) and return where it went; raises SlackDeliveryError on failure."""
        text = self.clean(text)
        destination = self.destination
        if destination == "log":
            log.warning(f"Slack is not configured; alert:\n{text}")
            return destination
        try:
            if destination == "webhook":
                response = WebhookClient(self.webhook_url, timeout=10).send(text=text)
                if response.status_code != 200:
                    raise SlackDeliveryError(f"webhook answered HTTP {response.status_code}")
            else:
                client = SlackResource(token=self.bot_token).get_client()
                if self.api_base_url:
                    client.base_url = self.api_base_url.rstrip("/") + "/"
                client.timeout = 10
                client.chat_postMessage(channel=self.channel, text=text)
        except SlackDeliveryError:
            raise
        except Exception as error:  # slack_sdk raises its own and urllib's errors
            raise SlackDeliveryError(self.clean(f"{type(error).__name__}: {error}")) from error
        log.info(f"Alert sent to Slack ({destination})")
        return destination
