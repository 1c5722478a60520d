"""Every knob of the simulator in one validated object, with defaults calibrated to SPEC.md.

The defaults reproduce the internet-hospital figures the source documents quote (30-day
retention < 20 %, < 1 active day a month, consult → visit < 8 %, online consult ¥50–80,
CAC > ¥500 on paid channels, package renewal ≈ 30 %). Rates are per day unless named otherwise.
"""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field, model_validator


class Persona(BaseModel):
    """How one kind of patient behaves: who they are, how often they use the app and why."""

    label_zh: str
    share: float = Field(ge=0, le=1, description="share of the population")
    age: tuple[int, int] = Field(description="age range at registration, inclusive")
    female: float = Field(0.5, ge=0, le=1)
    hours: str = Field("daytime", description="local-hour profile name (see vocab.HOUR_PROFILES)")
    active_rate: float = Field(description="mean probability of opening the app on a day, settled")
    novelty: float = Field(3.0, ge=0, description="extra activity multiplier right after sign-up")
    episode_rate: float = Field(description="daily rate of a new health episode (a reason to ask)")
    consult_p: float = Field(0.6, ge=0, le=1, description="episode → online consultation")
    followup_rate: float = Field(0.0, ge=0, description="daily rate of a chronic follow-up consult")
    hazard_early: float = Field(description="daily stop hazard right after sign-up")
    hazard_late: float = Field(description="daily stop hazard once settled")
    departments: dict[str, float] = Field(description="department weights of episodes")
    conditions: dict[str, float] = Field(
        default_factory=dict, description="ICD-10 chronic condition → prevalence"
    )
    health_need: dict[str, float] = Field(description="latent health-need layer weights")
    device_p: float = Field(0.0, ge=0, le=1, description="consult → buys a home device")
    package: str | None = Field(None, description="package this persona enrols in")
    package_p: float = Field(0.0, ge=0, le=1, description="consult → enrols in the package")
    checkup_rate: float = Field(0.01, ge=0, le=1, description="active day → books a check-up")
    managed_share: float = Field(0.0, ge=0, le=1, description="accounts run by a family member")
    channel: str = Field("app_push", description="message channel this persona prefers")
    open_propensity: float = Field(0.2, ge=0, le=1, description="mean open rate, own channel")
    invite_rate: float = Field(0.002, ge=0, description="share events per active day")


def _personas() -> dict[str, Persona]:
    resp = {"呼吸内科": 0.45, "消化内科": 0.35, "感染科": 0.2}
    return {
        "office_worker": Persona(
            label_zh="年轻上班族",
            share=0.26,
            age=(22, 40),
            female=0.52,
            hours="night",
            active_rate=0.045,
            novelty=3.0,
            episode_rate=0.012,
            consult_p=0.45,
            hazard_early=0.0825,
            hazard_late=0.024,
            departments={
                "神经内科": 0.3,
                "消化内科": 0.25,
                "呼吸内科": 0.2,
                "精神心理科": 0.15,
                "中医科": 0.1,
            },
            conditions={"G47.0": 0.08},
            health_need={"prevention": 0.45, "acute": 0.35, "medical_resources": 0.2},
            checkup_rate=0.015,
            channel="wechat",
            open_propensity=0.18,
            invite_rate=0.02,
        ),
        "parent": Persona(
            label_zh="宝爸宝妈",
            share=0.12,
            age=(28, 45),
            female=0.7,
            hours="evening",
            active_rate=0.05,
            novelty=3.0,
            episode_rate=0.01,
            consult_p=0.5,
            hazard_early=0.0675,
            hazard_late=0.02,
            departments={"呼吸内科": 0.3, "消化内科": 0.3, "中医科": 0.2, "神经内科": 0.2},
            health_need={"prevention": 0.5, "acute": 0.3, "medical_resources": 0.2},
            checkup_rate=0.02,
            channel="wechat",
            open_propensity=0.22,
            invite_rate=0.03,
        ),
        "child": Persona(
            label_zh="儿童(家长代管)",
            share=0.10,
            age=(0, 14),
            female=0.48,
            hours="evening",
            active_rate=0.03,
            novelty=2.0,
            episode_rate=0.02,
            consult_p=0.75,
            hazard_early=0.0675,
            hazard_late=0.018,
            departments={"儿科": 1.0},
            package="PKG-CHILD",
            package_p=0.06,
            health_need={"acute": 0.6, "prevention": 0.3, "medical_resources": 0.1},
            managed_share=1.0,
            channel="wechat",
            open_propensity=0.25,
            invite_rate=0.0,
        ),
        "elderly_chronic": Persona(
            label_zh="老年慢病",
            share=0.12,
            age=(60, 85),
            female=0.5,
            hours="morning",
            active_rate=0.05,
            novelty=1.5,
            episode_rate=0.008,
            consult_p=0.6,
            followup_rate=0.02,
            hazard_early=0.045,
            hazard_late=0.012,
            departments={"心血管内科": 0.5, "内分泌科": 0.3, "呼吸内科": 0.2},
            conditions={"I10": 0.65, "E11": 0.35, "I25": 0.2},
            health_need={"health_management": 0.6, "medical_resources": 0.4},
            device_p=0.12,
            package="PKG-HTN365",
            package_p=0.1,
            checkup_rate=0.03,
            managed_share=0.6,
            channel="sms",
            open_propensity=0.3,
            invite_rate=0.0,
        ),
        "pregnant": Persona(
            label_zh="孕产妇",
            share=0.06,
            age=(24, 38),
            female=1.0,
            hours="evening",
            active_rate=0.08,
            novelty=2.0,
            episode_rate=0.01,
            consult_p=0.7,
            followup_rate=0.012,
            hazard_early=0.0375,
            hazard_late=0.016,
            departments={"妇产科": 0.85, "消化内科": 0.15},
            health_need={"health_management": 0.5, "prevention": 0.3, "medical_resources": 0.2},
            package="PKG-MAT",
            package_p=0.08,
            checkup_rate=0.04,
            channel="wechat",
            open_propensity=0.3,
            invite_rate=0.03,
        ),
        "hypertension": Persona(
            label_zh="高血压患者",
            share=0.08,
            age=(40, 70),
            female=0.45,
            hours="morning",
            active_rate=0.06,
            novelty=1.5,
            episode_rate=0.004,
            consult_p=0.6,
            followup_rate=0.02,
            hazard_early=0.045,
            hazard_late=0.012,
            departments={"心血管内科": 1.0},
            conditions={"I10": 1.0, "I25": 0.1},
            health_need={"health_management": 0.8, "medical_resources": 0.2},
            device_p=0.5,
            package="PKG-HTN90",
            package_p=0.16,
            checkup_rate=0.02,
            channel="app_push",
            open_propensity=0.25,
            invite_rate=0.005,
        ),
        "diabetes": Persona(
            label_zh="糖尿病患者",
            share=0.07,
            age=(40, 70),
            female=0.45,
            hours="morning",
            active_rate=0.06,
            novelty=1.5,
            episode_rate=0.004,
            consult_p=0.6,
            followup_rate=0.02,
            hazard_early=0.045,
            hazard_late=0.012,
            departments={"内分泌科": 1.0},
            conditions={"E11": 1.0, "I10": 0.4},
            health_need={"health_management": 0.8, "medical_resources": 0.2},
            device_p=0.6,
            package="PKG-DM90",
            package_p=0.18,
            checkup_rate=0.02,
            channel="app_push",
            open_propensity=0.25,
            invite_rate=0.005,
        ),
        "acute_oneoff": Persona(
            label_zh="一次性急症用户",
            share=0.19,
            age=(18, 60),
            female=0.5,
            hours="daytime",
            active_rate=0.02,
            novelty=2.0,
            episode_rate=0.006,
            consult_p=0.7,
            hazard_early=0.18,
            hazard_late=0.04,
            departments=resp,
            health_need={"acute": 0.85, "medical_resources": 0.15},
            channel="sms",
            open_propensity=0.1,
            invite_rate=0.002,
        ),
    }


class Channel(BaseModel):
    """An acquisition channel: its share of sign-ups and, when paid, its cost per new user."""

    label_zh: str
    share: float = Field(ge=0, le=1)
    cac_cny: float = Field(0.0, ge=0, description="mean spend per new user; 0 = unpaid")


def _channels() -> dict[str, Channel]:
    return {
        "douyin": Channel(label_zh="抖音信息流", share=0.22, cac_cny=620.0),
        "baidu_search": Channel(label_zh="百度搜索", share=0.15, cac_cny=780.0),
        "wechat_ads": Channel(label_zh="微信朋友圈广告", share=0.13, cac_cny=560.0),
        "hospital_offline": Channel(label_zh="线下医院导流", share=0.2),
        "organic": Channel(label_zh="应用商店自然量", share=0.15),
        "referral": Channel(label_zh="老带新邀请", share=0.15),
    }


class MessageType(BaseModel):
    """A kind of message and how people respond to it (true, hidden parameters)."""

    label_zh: str
    click_p: float = Field(ge=0, le=1, description="mean P(click | opened)")
    order_p: float = Field(ge=0, le=1, description="mean P(order | clicked)")
    order_category: str = "consultation"
    order_sku: str = "SVC-CONSULT"


def _message_types() -> dict[str, MessageType]:
    return {
        "health_reminder": MessageType(
            label_zh="健康提醒",
            click_p=0.35,
            order_p=0.05,
            order_category="device",
            order_sku="DEV-BP",
        ),
        "coupon": MessageType(label_zh="问诊优惠券", click_p=0.45, order_p=0.25),
        "content": MessageType(label_zh="健康科普", click_p=0.3, order_p=0.02),
        "renewal_offer": MessageType(
            label_zh="续费优惠",
            click_p=0.4,
            order_p=0.2,
            order_category="package",
            order_sku="PKG-DM90",
        ),
        "recall": MessageType(label_zh="沉默召回", click_p=0.25, order_p=0.08),
    }


class SimConfig(BaseModel):
    """The whole simulator: population, behaviour, economics, calibration targets."""

    users: int = Field(20_000, ge=1, le=50_000_000)
    days: int = Field(365, ge=1, le=3660)
    seed: int = Field(0, ge=0)
    start: dt.date = Field(dt.date(2025, 1, 1), description="first simulated day (local)")
    timezone_offset_hours: int = Field(8, description="hospital local time = UTC + this")
    chunk_users: int = Field(50_000, ge=100, description="users simulated together")
    truth_horizon_days: int = Field(730, ge=365, description="days simulated past the window")

    personas: dict[str, Persona] = Field(default_factory=_personas)
    channels: dict[str, Channel] = Field(default_factory=_channels)
    message_types: dict[str, MessageType] = Field(default_factory=_message_types)

    # engagement
    novelty_days: float = Field(7.0, gt=0, description="time constant of sign-up excitement")
    hazard_days: float = Field(21.0, gt=0, description="time constant early → settled hazard")
    episode_boost: float = Field(4.0, ge=0, description="activity multiplier during an episode")
    episode_boost_days: int = Field(5, ge=0)
    events_per_session: float = Field(9.0, gt=0, description="mean events after app_open")
    sessions_per_day: float = Field(1.5, ge=1)
    invite_conversion: float = Field(
        0.25, gt=0, le=1, description="share of invites whose invitee signs up"
    )
    # experience → churn
    reply_timeout_s: float = Field(600.0, description="first reply slower than this is late")
    late_reply_share: float = Field(0.08, ge=0, le=1)
    late_reply_complaint_p: float = Field(0.35, ge=0, le=1)
    payment_failure_p: float = Field(0.03, ge=0, le=1)
    payment_failure_complaint_p: float = Field(0.5, ge=0, le=1)
    complaint_hazard_mult: float = Field(2.5, ge=1, description="hazard × this per recent issue")
    value_hazard_mult: float = Field(0.7, gt=0, le=1, description="hazard × this per value unit")
    poor_control_hazard_mult: float = Field(1.3, ge=1)
    memory_decay: float = Field(0.97, gt=0, lt=1, description="daily decay of experience scores")
    # clinical
    offline_visit_p: float = Field(0.04, ge=0, le=1, description="consult → offline visit")
    prescription_p: float = Field(0.45, ge=0, le=1)
    diagnosed_share: float = Field(0.7, ge=0, le=1, description="true conditions on record")
    poor_control_share: float = Field(0.4, ge=0, le=1)
    glucose_crisis_share: float = Field(
        0.15, ge=0, le=1, description="poorly controlled diabetics with a run > 13.9"
    )
    measure_p: float = Field(0.35, ge=0, le=1, description="device owner measures on a day")
    refill_adherence: float = Field(0.55, ge=0, le=1)
    # commerce
    launch_days: int = Field(90, ge=0, description="package launch-price period from start")
    package_use_p: float = Field(0.09, ge=0, le=1, description="daily entitlement use, enrolled")
    enrolled_hazard_mult: float = Field(0.35, gt=0, le=1, description="hazard × this, enrolled")
    activation_uses: int = Field(5, ge=1, description="entitlement uses that activate a package")
    activation_days: int = Field(90, ge=1, description="golden activation window")
    renewal_p_activated: float = Field(0.48, ge=0, le=1)
    renewal_p_not_activated: float = Field(0.15, ge=0, le=1)
    survey_nps_p: float = Field(0.01, ge=0, le=1, description="NPS asked on an active day")
    survey_csat_p: float = Field(0.25, ge=0, le=1, description="CSAT after a consultation")
    # consents (sim.consents; opt-outs after unwanted messages in sim.respond)
    consent_marketing_p: float = Field(
        0.85, ge=0, le=1, description="grant marketing messages at sign-up"
    )
    consent_withdraw_p: float = Field(
        0.06, ge=0, le=1, description="a granter withdraws marketing within the window"
    )
    consent_withdraw_stopped_mult: float = Field(
        2.5, ge=1, description="withdrawal × this for people who went quiet"
    )
    optout_unwanted_p: float = Field(
        0.004, ge=0, le=1, description="opt-out after a marketing message left unopened"
    )
    # messages (sim.respond)
    off_channel_factor: float = Field(0.5, gt=0, le=1, description="open rate off own channel")
    stopped_response_factor: float = Field(
        0.3, ge=0, le=1, description="response of people who truly stopped"
    )

    # calibration targets (metric → (low, high)); None = unbounded side
    targets: dict[str, tuple[float | None, float | None]] = Field(
        default_factory=lambda: {
            "retention_d30": (None, 0.20),
            "monthly_active_days": (None, 1.0),
            "consult_to_visit": (None, 0.08),
            "online_consult_price": (50.0, 80.0),
            "paid_cac_min": (500.0, None),
            "package_renewal": (0.24, 0.36),
        }
    )

    @model_validator(mode="after")
    def _shares_sum_to_one(self) -> SimConfig:
        for name, parts in (("personas", self.personas), ("channels", self.channels)):
            total = sum(p.share for p in parts.values())
            if abs(total - 1.0) > 1e-6:
                raise ValueError(f"{name} shares must sum to 1, got {total:.4f}")
        return self

    @property
    def end(self) -> dt.date:
        """The first day after the simulated window."""
        return self.start + dt.timedelta(days=self.days)
