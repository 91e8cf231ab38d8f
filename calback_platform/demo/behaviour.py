"""How synthetic Calback users behave: the planted parameters of the demo data.

Everything a test may want to recover from the marts is a named constant here and is copied into
`truth.json` by the generator.
"""

from __future__ import annotations

from dataclasses import dataclass

# Traffic sources a user can sign up from: (source, medium, campaign name, share of sign-ups).
TRAFFIC_SOURCES = (
    ("google", "organic", "(organic)", 0.35),
    ("google", "cpc", "brand_search", 0.05),
    ("instagram", "cpc", "spring_promo", 0.20),
    ("facebook", "cpc", "meet_faster", 0.15),
    ("invite", "referral", "invite_link", 0.25),
)
# A paid sign-up's first session carries its campaign (UTM parameters, gclid for Google Ads,
# collected_traffic_source, session_traffic_source_last_click). Later sessions come back
# through a campaign this often, whatever brought the user first.
RETURN_CAMPAIGNS = (
    ("newsletter", "email", "weekly_digest", 0.03),
    ("instagram", "cpc", "retargeting", 0.02),
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


@dataclass(frozen=True)
class Experiment:
    experiment_id: str
    description: str
    intended_split: dict[str, float]
    # The split users really get; differs from `intended_split` for a sample-ratio mismatch.
    actual_split: dict[str, float]
    # Multiplier on the purchase probability per variant (1.0 = no effect).
    purchase_multiplier: dict[str, float]


PAYWALL_EXPERIMENT = Experiment(
    experiment_id="exp_paywall_v2",
    description="New paywall copy after the first confirmed meeting; raises purchase by 60%.",
    intended_split={"control": 0.5, "test": 0.5},
    actual_split={"control": 0.5, "test": 0.5},
    purchase_multiplier={"control": 1.0, "test": 1.6},
)
RECOMMENDATION_EXPERIMENT = Experiment(
    experiment_id="exp_reco_widget",
    description="Slot recommendation widget; no effect, but a buggy assignment gives 56/44.",
    intended_split={"control": 0.5, "test": 0.5},
    actual_split={"control": 0.56, "test": 0.44},
    purchase_multiplier={"control": 1.0, "test": 1.0},
)
EXPERIMENTS = (PAYWALL_EXPERIMENT, RECOMMENDATION_EXPERIMENT)
# Purchase probability after a user's first confirmed meeting, before experiment multipliers.
P_PURCHASE_AFTER_CONFIRM = 0.25

# Abnormal users planted for the bot filter and the whale cap.
BOT_COUNT = 3
BOT_PAGE_VIEWS_PER_DAY = (150, 300)
WHALE_COUNT = 4
WHALE_PURCHASE_KRW = (1_000_000, 4_000_000)
