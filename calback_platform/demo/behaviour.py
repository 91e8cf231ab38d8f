"""How synthetic Calback users behave: the planted parameters of the demo data.

Everything a test may want to recover from the marts is a named constant here and is copied into
`truth.json` by the generator.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date

# Where visits come from: (source, medium, campaign name, the GA4 default channel group it falls
# in, how the link tells GA4: "utm" tags, Google Ads' "gclid" auto-tagging, or only the
# "referrer" GA4 turns into collected_traffic_source, share).
TRAFFIC_SOURCES = (
    ("google", "organic", "(organic)", "Organic Search", "referrer", 0.35),
    ("google", "cpc", "brand_search", "Paid Search", "gclid", 0.05),
    ("instagram", "cpc", "spring_promo", "Paid Social", "utm", 0.20),
    ("facebook", "cpc", "meet_faster", "Paid Social", "utm", 0.15),
    ("invite", "referral", "invite_link", "Referral", "utm", 0.25),
)
# Every sign-up's first session carries where it came from. Later sessions come back through a
# campaign this often, whatever brought the user first ...
RETURN_CAMPAIGNS = (
    ("newsletter", "email", "weekly_digest", "Email", "utm", 0.03),
    ("instagram", "cpc", "retargeting", "Paid Social", "utm", 0.02),
)
# ... else they are direct, and GA4 credits the device's last non-direct campaign within this
# look-back (dbt var attribution_lookback_days).
ATTRIBUTION_LOOKBACK_DAYS = 30
DIRECT = "Direct"
# Return sessions that start just before midnight (some run into the next day), and bounces: one
# short view, not engaged as GA4 counts it (< 10 s, < 2 views, no key event).
P_LATE_NIGHT_SESSION = 0.03
P_BOUNCE_SESSION = 0.08
BOUNCE_ENGAGEMENT_MSEC = (500, 9_000)

# Ad spend the marketer types into the sheet, one row per day and campaign: what a new user
# costs (KRW) and the currency the ad account bills in ...
PAID_CAMPAIGN_CAC_KRW = {
    ("google", "cpc", "brand_search"): (14_000, "KRW"),
    ("instagram", "cpc", "spring_promo"): (9_000, "KRW"),
    ("facebook", "cpc", "meet_faster"): (12_000, "USD"),
}
# ... and flat daily budgets (channel, source, medium, campaign, KRW): retargeting, which brings
# users back rather than new ones, and a display deal booked by channel only, which brings no
# tracked visit at all.
DAILY_BUDGETS_KRW = (
    ("", "instagram", "cpc", "retargeting", 30_000),
    ("Display", "", "", "", 20_000),
)
PLATFORMS = (("ios", 0.45), ("android", 0.35), ("web", 0.20))
MEETING_CATEGORIES = ("work", "study", "friends", "family", "hobby", "other")

# Retention: chance of being active k days after sign-up
#   = engagement * (EARLY * e^(-k/TAU) + FLOOR).
RETENTION_EARLY = 0.40
RETENTION_TAU_DAYS = 6.0
RETENTION_FLOOR = 0.06
SECOND_DEVICE_SHARE = 0.12

# Funnel step probabilities (each conditional on the previous step).
P_ONBOARDING_COMPLETE = 0.78
P_MEETING_CREATE = 0.60
P_INVITE_SEND = 0.72
P_MEETING_CONFIRM = 0.65
# An invited user who accepts votes on the slots this often, so votes and accepted invites are
# two behaviours, not one counted twice (the revisit model can tell which one matters).
P_VOTE_AFTER_INVITE_ACCEPT = 0.5
# Users abroad pay in their currency: (currency, monthly, yearly, share of purchases). The
# export keeps the amount in that currency; GA4 adds event_value_in_usd.
PRICES = (
    ("KRW", 9_900, 99_000, 0.85),
    ("USD", 7.99, 79.99, 0.08),
    ("EUR", 6.99, 69.99, 0.04),
    ("JPY", 1_100, 11_000, 0.03),
)
# What one unit of each currency is worth in won (the demo's rates; dbt seed currency_rates).
RATES_TO_KRW = {"KRW": 1.0, "USD": 1_350.0, "EUR": 1_470.0, "JPY": 9.1}

# Real-export traits. Web streams batch events: two user_engagement events of one batch share
# the timestamp and bundle, told apart by batch_event_index (web) or only their params (app).
P_BATCHED_ENGAGEMENT = 0.3
# Android screen_view events that carry only firebase_screen_class (no firebase_screen).
P_SCREEN_CLASS_ONLY = 0.4
# Visitors who deny analytics cookies (consent mode): cookieless pings, no user_pseudo_id.
COOKIELESS_VISITORS_PER_1000_USERS = 4
# App users who uninstall after their last visit (GA4 sends app_remove for them).
P_APP_REMOVE = 0.15


# A/B experiments, each with a control and a test arm.
EVEN_SPLIT = {"control": 0.5, "test": 0.5}
NO_EFFECT = {"control": 1.0, "test": 1.0}


@dataclass(frozen=True)
class Experiment:
    experiment_id: str
    description: str
    # Users who sign up on or after `start` are assigned at sign-up; those who signed up before
    # it at their first visit on or after it (never, if they do not come back by then).
    start: date
    # What a correct analysis concludes (None: it depends on the sample's power).
    planted_verdict: str | None
    intended_split: dict[str, float] = field(default_factory=EVEN_SPLIT.copy)
    # The split users really get; differs from `intended_split` for a sample-ratio mismatch.
    actual_split: dict[str, float] = field(default_factory=EVEN_SPLIT.copy)
    # Multiplier on the purchase probability per variant (1.0 = no effect), on purchases from
    # the assignment on ...
    purchase_multiplier: dict[str, float] = field(default_factory=NO_EFFECT.copy)
    # ... or these multipliers if the user is in (experiment, variant) by then: a planted
    # interaction.
    purchase_multiplier_when: tuple[str, str, dict[str, float]] | None = None
    # Multiplier on the daily chance of being active, on every day after the assignment day.
    activity_multiplier: dict[str, float] = field(default_factory=NO_EFFECT.copy)

    def purchase_multiplier_for(self, variants: Mapping[str, str]) -> float:
        """The multiplier for a user in `variants` (experiment id: variant, the assignments
        made by the purchase)."""
        variant = variants.get(self.experiment_id)
        if variant is None:
            return 1.0
        if self.purchase_multiplier_when:
            experiment, other_variant, multipliers = self.purchase_multiplier_when
            if variants.get(experiment) == other_variant:
                return multipliers[variant]
        return self.purchase_multiplier[variant]

    def activity_multiplier_for(self, variants: Mapping[str, str]) -> float:
        variant = variants.get(self.experiment_id)
        return 1.0 if variant is None else self.activity_multiplier[variant]


EXPERIMENTS = (
    Experiment(
        experiment_id="exp_paywall_v2",
        description="New paywall copy: purchases x2, but users come back 25% less often.",
        start=date(2024, 3, 1),
        planted_verdict="guardrail breached",
        purchase_multiplier={"control": 1.0, "test": 2.0},
        activity_multiplier={"control": 1.0, "test": 0.75},
    ),
    Experiment(
        experiment_id="exp_reco_widget",
        description="Slot recommendation widget; no effect, but a buggy assignment gives 56/44.",
        start=date(2024, 3, 1),
        planted_verdict="invalid (SRM)",
        actual_split={"control": 0.56, "test": 0.44},
    ),
    Experiment(
        experiment_id="exp_aa_check",
        description="A/A test: both arms see the same app; any difference is chance.",
        start=date(2024, 3, 1),
        planted_verdict="inconclusive",
    ),
    Experiment(
        experiment_id="exp_invite_copy",
        description="New invite copy: purchases x2, but x0.5 with exp_reminder_push's pushes.",
        start=date(2024, 3, 1),
        planted_verdict=None,
        purchase_multiplier={"control": 1.0, "test": 2.0},
        purchase_multiplier_when=("exp_reminder_push", "test", {"control": 1.0, "test": 0.5}),
    ),
    Experiment(
        experiment_id="exp_reminder_push",
        description="Reminder pushes from 21 March: users come back 30% more often.",
        start=date(2024, 3, 21),
        planted_verdict=None,
        activity_multiplier={"control": 1.0, "test": 1.3},
    ),
)


def purchase_multiplier(variants: Mapping[str, str]) -> float:
    """What the experiments do to the purchase probability of a user in `variants`."""
    return math.prod(e.purchase_multiplier_for(variants) for e in EXPERIMENTS)


def activity_multiplier(variants: Mapping[str, str]) -> float:
    """What the experiments do to the daily chance of being active of a user in `variants`."""
    return math.prod(e.activity_multiplier_for(variants) for e in EXPERIMENTS)


# Revisits: the revisit model predicts from a user's first REVISIT_FEATURE_DAYS days (days since
# sign-up 0 to 6, Asia/Seoul, the sign-up day is 0) whether they become a frequent visitor: a
# session start on at least FREQUENT_VISIT_DAYS of the days since sign-up in REVISIT_LABEL_DAYS
# (inclusive: "days 8 to 35"). dbt vars revisit_feature_days, revisit_label_days (the window's
# length, 28) and frequent_visit_days say the same.
REVISIT_FEATURE_DAYS = 7
REVISIT_LABEL_DAYS = (7, 34)
FREQUENT_VISIT_DAYS = 3
# Planted drivers, on the daily chance of being active from day 7 on, for the model to recover:
# a meeting confirmed in the first week (about triple the odds of becoming frequent at median
# engagement) ...
WEEK1_CONFIRM_RETURN_MULTIPLIER = 1.5
# ... and an invite accepted in it, for app users only (by sign-up platform; about x8 the odds at
# median engagement): the app pushes the meeting's updates, the web cannot. A platform x
# behaviour effect a tree model can learn and a plain logistic regression cannot.
WEEK1_INVITE_RETURN_MULTIPLIER_APP = 2.0
# Recommendation clicks (exp_reco_widget's test arm) change nothing: the planted non-driver.


def week1_return_multiplier(platform: str, confirmed: bool, invite_accepted: bool) -> float:
    """What the first week does to the daily chance of being active from day 7 on, for a user
    who signed up on `platform` and did these in days 0 to 6."""
    multiplier = WEEK1_CONFIRM_RETURN_MULTIPLIER if confirmed else 1.0
    if invite_accepted and platform != "web":
        multiplier *= WEEK1_INVITE_RETURN_MULTIPLIER_APP
    return multiplier


# Purchase probability after a user's first confirmed meeting, before experiment multipliers.
P_PURCHASE_AFTER_CONFIRM = 0.25

# Abnormal users planted for the bot filter and the whale cap.
BOT_COUNT = 3
BOT_PAGE_VIEWS_PER_DAY = (150, 300)
WHALE_COUNT = 4
WHALE_PURCHASE_KRW = (1_000_000, 4_000_000)
