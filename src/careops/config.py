"""CareOps settings: one validated object from `careops.yaml` and `CAREOPS_*` variables.

Precedence, highest first: explicit arguments (CLI flags), environment variables
(`CAREOPS_WAREHOUSE`, nested ones as `CAREOPS_LIFECYCLE__ACTIVE_MIN_DAYS`), the YAML file
(`CAREOPS_CONFIG`, else `./careops.yaml` when present), then the defaults below, which are the
figures of SPEC.md. Every threshold an operations team may retune lives here, named once.
"""

from __future__ import annotations

import itertools
import os
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

Lang = Literal["zh", "en"]


class IngestSettings(BaseModel):
    """Ingestion rules."""

    max_bad_ratio: float = Field(0.05, ge=0, le=1, description="reject a file whole above this")
    future_tolerance_minutes: int = Field(5, ge=0, description="clock skew allowed for 'future'")
    min_birth_year: int = Field(1900, description="older birth dates are implausible")
    naive_timestamps: Literal["local", "utc"] = Field(
        "local", description="timestamps without an offset are in the hospital timezone or UTC"
    )
    max_depth: int = Field(
        64,
        ge=8,
        le=500,
        description="deepest JSON nesting read; deeper "
        "records are quarantined (FHIR bundles use about 10)",
    )


class LifecycleSettings(BaseModel):
    """Lifecycle layer thresholds (SPEC §3)."""

    new_max_days: int = 7
    active_min_days: int = 3
    active_window_days: int = 30
    active_min_services: int = 1
    silent_min_days: int = 30
    churned_min_days: int = 90
    churn_risk_days: int = 15
    frequent_consulter_min: int = 3  # in the 30-day active window: about weekly


class ValueSettings(BaseModel):
    """Value layer thresholds (SPEC §3), in yuan."""

    ltv_high_cny: float = 1000.0
    ltv_mid_cny: float = 300.0


class HealthSettings(BaseModel):
    """Clinical thresholds (SPEC §5, §9)."""

    bp_systolic_max: float = 140.0
    bp_diastolic_max: float = 90.0
    glucose_alert_mmol: float = 13.9
    glucose_alert_days: int = 3
    package_activation_uses: int = 5
    package_activation_days: int = 90
    alert_rules: str | None = Field(
        None,
        description="a hospital's abnormal-reading rules file (YAML, as careops/care/data/"
        "alert_rules.yaml); empty: the shipped rules. Used by event intake, file loads and the "
        "API; checked when the service starts (errors name the line and field)",
    )


class TagSettings(BaseModel):
    """Windows and cut-offs of the patient tags (SPEC §2–3); see docs/tags.md."""

    habit_days: int = Field(90, ge=1, description="window for usual hour and night-owl")
    night_hours: tuple[int, int] = Field((23, 5), description="local [start, end) of the night")
    night_min_share: float = Field(0.3, ge=0, le=1, description="share of night activity")
    keyword_days: int = 30
    keyword_top: int = 5
    need_days: int = Field(90, description="window for health-need signals")
    self_check_days: int = Field(30, description="searched within → symptom self-check")
    treatment_days: int = Field(14, description="consulted within → in treatment")
    recovery_days: int = Field(90, description="treated within, not now → recovery")
    urgent_days: int = Field(7, description="abnormal reading / acute consult → high priority")
    rfm_days: int = 365
    rfm_recency_days: tuple[int, ...] = (180, 90, 60, 30)
    rfm_frequency: tuple[int, ...] = (1, 2, 3, 5, 8)
    rfm_monetary_cny: tuple[float, ...] = (1.0, 100.0, 300.0, 1000.0, 3000.0)
    contribution: tuple[int, ...] = Field((1, 3, 6), description="shares/invites/activities")
    value_high_min: int = Field(12, description="RFM + contribution score for 'high'")
    value_mid_min: int = Field(7, description="RFM + contribution score for 'mid'")
    repurchase_min_orders: int = Field(2, description="paid orders confirming a high spender")
    elderly_min_age: int = 60
    child_max_age: int = 14
    age_bands: tuple[int, ...] = Field((0, 15, 25, 35, 45, 60), description="band lower bounds")
    smart_max_age_days: int = Field(
        7, ge=1, le=366, description="smart tags use model scores at most this many days old"
    )


class ExperimentSettings(BaseModel):
    """Experiment defaults (SPEC §9)."""

    global_control_pct: float = Field(0.05, ge=0.01, le=0.10)
    alpha: float = 0.05
    srm_p: float = 0.001


class MetricsSettings(BaseModel):
    """Metric definitions operators retune (SPEC §9; docs/metrics.md)."""

    window_days: int = Field(30, ge=1, description="default look-back of window metrics")
    first_reply_sla_s: float = Field(600.0, gt=0, description="consult first-reply SLA")
    nps_promoter_min: float = 9.0
    nps_detractor_max: float = 6.0
    csat_satisfied_min: float = Field(4.0, description="CSAT (1–5) counted as satisfied")
    adherence_pdc_min: float = Field(0.8, ge=0, le=1, description="PDC counted as adherent")
    adherence_window_days: int = Field(180, ge=1)
    glucose_control_max_mmol: float = Field(7.0, description="last glucose below this: controlled")
    renewal_grace_days: int = Field(30, ge=0, description="renewal may start this late")


class ModelSettings(BaseModel):
    """Predictive models (SPEC §4; docs/models.md): where trained models live, churn windows."""

    dir: str | None = Field(
        None, description="model registry folder; empty: `models/` beside the warehouse file"
    )
    churn_horizon_days: int = Field(7, ge=1, le=90, description="churn: goes quiet within")
    churn_confirm_days: int = Field(
        30, ge=7, le=180, description="churn label: then stays quiet this long (observed)"
    )
    churn_alive_days: int = Field(
        3, ge=1, le=90, description="churn training: patients active within (known still users)"
    )
    churn_snapshots: int = Field(12, ge=3, le=52, description="training as-of dates")
    churn_step_days: int = Field(7, ge=1, le=90, description="days between training dates")
    churn_seed: int = 7
    triage_c: float = Field(
        10.0, gt=0, le=1e6, description="triage supervised: inverse L2 strength of the regression"
    )
    triage_balanced: bool = Field(
        True, description="triage supervised: every department weighs the same in training"
    )
    triage_holdout_days: int = Field(
        30, ge=0, le=365, description="triage train: last days held out for the time-split check"
    )
    triage_blend_weight: float = Field(
        0.2, ge=0, le=1, description="triage blend: weight of the first ranker (supervised)"
    )
    triage_blend_method: Literal["score", "rank"] = Field(
        "score", description="triage blend: fuse min-max scores or reciprocal ranks"
    )
    rec_factors: int = Field(32, ge=2, le=512, description="recommendations: ALS factors")
    rec_iterations: int = Field(15, ge=1, le=200, description="recommendations: ALS iterations")
    rec_regularization: float = Field(0.05, gt=0, description="recommendations: ALS L2 penalty")
    rec_alpha: float = Field(
        5.0, gt=0, description="recommendations: confidence = 1 + alpha·log(1 + weight)"
    )
    rec_popularity_days: int = Field(
        90, ge=1, le=3650, description="recommendations: popularity counts users of the last days"
    )
    rec_eval_days: int = Field(
        30, ge=1, le=365, description="recommendation evaluation: test window after the as-of"
    )
    rec_seed: int = 7
    nextneed_window_days: int = Field(
        90, ge=1, le=730, description="next needs: B follows A within (mined rules, triggers)"
    )
    nextneed_min_users: int = Field(
        10, ge=1, description="mined next-need rules: users who did A then B, at least"
    )
    nextneed_min_confidence: float = Field(
        0.1, gt=0, le=1, description="mined next-need rules: P(B after A), at least"
    )
    nextneed_min_lift: float = Field(
        1.5, gt=0, description="mined next-need rules: confidence ÷ P(B), at least"
    )


class PrivacySettings(BaseModel):
    """Direct identifiers (name, phone, id number): where they go and under which key."""

    contacts_key: SecretStr | None = Field(
        None,
        description="base64 of 32 random bytes: the AES-GCM key of the contacts table; "
        "empty: identifier columns are dropped at ingestion",
    )
    pseudonym_key: SecretStr | None = Field(
        None,
        description="secret (32+ characters, not the contacts key) of the keyed hash "
        "(HMAC-SHA256) behind pseudonymous ids in de-identified exports; empty: no export",
    )
    date_mode: Literal["shift", "month"] = Field(
        "shift",
        description="de-identified dates: shifted per patient by a keyed offset (intervals "
        "kept) or truncated to the first of their month",
    )
    date_shift_days: int = Field(
        30, ge=1, le=365, description="largest shift, in days, either way (date_mode shift)"
    )


class ApiSettings(BaseModel):
    """The HTTP service `careops serve` (docs/api.md): tokens, lock-out, request limits."""

    secret_key: SecretStr | None = Field(
        None,
        description="key signing access tokens (32+ random bytes); empty: one is generated "
        "once and kept in the state store, so every service process of a deployment agrees",
    )
    token_ttl_s: int = Field(900, ge=60, le=86400, description="access tokens expire after")
    max_failed_logins: int = Field(5, ge=1, description="failed logins before a lock-out")
    lockout_s: int = Field(900, ge=1, description="how long a locked account stays locked")
    login_failures_per_ip: int = Field(
        20, ge=1, description="failed logins from one client address before it gets 429"
    )
    login_window_s: int = Field(
        300, ge=1, description="the window those failed logins are counted in"
    )
    argon2_time_cost: int = Field(
        3, ge=1, le=20, description="Argon2id passes over memory for staff password hashes"
    )
    argon2_memory_kib: int = Field(
        65536, ge=8, le=4_194_304, description="Argon2id memory per hash, KiB (RFC 9106: 64 MiB)"
    )
    argon2_parallelism: int = Field(4, ge=1, le=64, description="Argon2id lanes per hash")
    max_body_bytes: int = Field(2_000_000, ge=1024, description="larger requests get 413")
    max_page: int = Field(1000, ge=1, description="most items one page may hold")


class IntakeSettings(BaseModel):
    """Event intake `POST /api/v1/events` (docs/api.md): limits, and the journal of an
    embedded warehouse that the service's writer flushes into it."""

    max_batch: int = Field(1000, ge=1, le=10_000, description="most events one request holds")
    max_id_chars: int = Field(128, ge=8, le=1024, description="longest event_id / user_id")
    max_name_chars: int = Field(64, ge=8, le=1024, description="longest event name")
    max_properties_bytes: int = Field(
        8192, ge=256, le=1_000_000, description="largest properties object, as UTF-8 JSON"
    )
    max_depth: int = Field(8, ge=1, le=64, description="deepest nesting inside properties")
    flush_interval_s: float = Field(
        1.0, gt=0, le=300, description="DuckDB/Spark: journal → warehouse at least this often"
    )
    flush_max_rows: int = Field(200_000, ge=1000, description="most journal rows one flush moves")
    journal_keep_days: float = Field(
        7.0,
        gt=0,
        description="flushed events stay this long in the journal, which answers a re-sent "
        "event_id as a duplicate (or a conflict); older ones the warehouse's key check skips",
    )
    journal: str | None = Field(
        None,
        description="intake journal file (SQLite) of a DuckDB/Spark warehouse; empty: beside "
        "the warehouse (x/warehouse.duckdb → x/warehouse.intake.db)",
    )


class ServiceSettings(BaseModel):
    """`careops serve`: sharing the embedded warehouse, and the in-process worker."""

    busy_wait_s: float = Field(
        10.0, ge=0, le=600, description="the service waits this long for a CLI holding DuckDB"
    )
    cli_wait_s: float = Field(
        0.0, ge=0, le=3600, description="a CLI command waits this long for a busy DuckDB file"
    )
    snapshot_at: str = Field(
        "02:30",
        pattern=r"^([01]\d|2[0-3]):[0-5]\d$",
        description="local time (HH:MM, hospital timezone) of the nightly tag snapshot",
    )
    tick_s: float = Field(1.0, gt=0, le=60, description="how often the worker looks for due jobs")


_SPARK_SIZE = r"^[1-9][0-9]*[kmgtp]?$"  # Spark memory sizes: 512m, 4g


class SparkSettings(BaseModel):
    """Spark behind `spark://` warehouses (docs/spark.md): the session, its persistent catalog,
    and what a cluster needs (shared storage, networking, executor sizes).

    A field left empty leaves the matter to Spark (`spark-defaults.conf`, Spark's defaults);
    a field given here overrides `spark-defaults.conf`, and `conf` overrides both."""

    master: str = Field(
        "local[2]", min_length=1, description="master of spark://local (local[N], yarn, …)"
    )
    warehouse_dir: str = Field(
        "careops-data/spark-warehouse",
        min_length=1,
        description="where tables are stored: a path, or a URI (file://, hdfs://, s3a://, "
        "abfss://, gs://); on a cluster, storage every node reaches",
    )
    catalog: Literal["hive", "in-memory"] = Field(
        "hive",
        description="hive: tables are kept in a metastore between commands; in-memory: "
        "Spark's session catalog, forgotten when the process ends (tests, one-off scripts)",
    )
    metastore_url: str | None = Field(
        None,
        description="JDBC URL of the metastore database, e.g. jdbc:postgresql://host:5432/"
        "metastore (its driver jar in `jars`); empty: embedded Derby under warehouse_dir "
        "(one process at a time)",
    )
    metastore_user: str | None = Field(None, description="user of metastore_url")
    metastore_password: SecretStr | None = Field(None, description="password of metastore_url")
    metastore_uris: str | None = Field(
        None, description="thrift://host:9083 of a running Hive metastore service instead"
    )
    jars: tuple[str, ...] = Field((), description="extra jars (the metastore's JDBC driver)")
    shuffle_partitions: int = Field(4, ge=1, le=100_000)
    driver_memory: str | None = Field("4g", pattern=_SPARK_SIZE)
    driver_host: str | None = Field(
        None, description="address executors reach the driver at (cluster: not loopback)"
    )
    driver_bind_address: str | None = Field(None, description="address the driver listens on")
    driver_port: int | None = Field(None, ge=1, le=65535, description="driver RPC port")
    block_manager_port: int | None = Field(None, ge=1, le=65535)
    executor_memory: str | None = Field(None, pattern=_SPARK_SIZE)
    executor_cores: int | None = Field(None, ge=1)
    cores_max: int | None = Field(None, ge=1, description="most cores the application takes")
    conf: dict[str, str] = Field(
        default_factory=dict, description="any other Spark setting, passed through as given"
    )

    @field_validator("metastore_url")
    @classmethod
    def _jdbc(cls, v: str | None) -> str | None:
        if v and not v.startswith("jdbc:"):
            raise ValueError(f"{v!r} is not a JDBC URL; use jdbc:postgresql://host:5432/db")
        return v or None

    @field_validator("metastore_uris")
    @classmethod
    def _thrift(cls, v: str | None) -> str | None:
        if v and not all(u.strip().startswith("thrift://") for u in v.split(",")):
            raise ValueError(f"{v!r}: use thrift://host:9083 (comma-separated for several)")
        return v or None

    @field_validator("conf")
    @classmethod
    def _spark_keys(cls, v: dict[str, str]) -> dict[str, str]:
        bad = [k for k in v if not k.startswith("spark.")]
        if bad:
            raise ValueError(f"Spark settings start with 'spark.': {', '.join(map(repr, bad))}")
        return v

    @field_validator("warehouse_dir")
    @classmethod
    def _no_separator(cls, v: str) -> str:
        if any(c in v for c in ";\n\r\x00"):
            raise ValueError("warehouse_dir may not contain ';' or control characters")
        return v


class SqlSettings(BaseModel):
    """The analyst SQL door `careops sql` (docs/sql.md)."""

    timeout_s: float = Field(60.0, gt=0, description="a query is cancelled after this long")
    analyst_role: str = Field(
        "careops_analyst",
        pattern=r"^[a-z_][a-z0-9_]{0,62}$",
        description="PostgreSQL role analyst SQL runs as",
    )
    analyst_url: str | None = Field(
        None,
        description="PostgreSQL URL logging in as the analyst role (production); empty: "
        "the warehouse URL with SET ROLE to analyst_role inside the query's transaction",
    )


class CapSettings(BaseModel):
    """Frequency caps of one purpose, per patient (None: no cap)."""

    per_day: int | None = Field(None, ge=0, le=100, description="per calendar day, hospital time")
    per_7_days: int | None = Field(None, ge=0, le=700, description="per rolling 7 days")


class HolidaySettings(BaseModel):
    """A do-not-disturb period (local dates, both included) for some purposes."""

    name: str = Field(max_length=64)
    start: date
    end: date
    purposes: list[Literal["marketing", "service", "medical"]] = ["marketing"]


class JourneySettings(BaseModel):
    """Journeys and the send policy (SPEC §5; docs/journeys.md)."""

    dir: str | None = Field(None, description="folder of the hospital's journey YAML files")
    compliance_rules: str | None = Field(
        None, description="YAML file of extra copy rules added to the shipped ones"
    )
    webhook_allow: list[str] = Field(
        default_factory=list,
        description="hosts (or *.domain) webhook steps may call over https; empty: none",
    )
    caps: dict[Literal["marketing", "service", "medical"], CapSettings] = Field(
        default_factory=lambda: {
            "marketing": CapSettings(per_day=1, per_7_days=3),
            "service": CapSettings(),
            "medical": CapSettings(),
        }
    )
    journey_caps: CapSettings = Field(
        CapSettings(),
        description="default caps per patient and journey (a journey may set its own)",
    )
    capped: Literal["drop", "defer"] = Field("drop", description="what happens to a capped send")
    quiet_start: str = Field("21:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    quiet_end: str = Field("08:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    quiet_purposes: list[Literal["marketing", "service", "medical"]] = Field(
        ["marketing", "service", "medical"],
        description="purposes held back in quiet hours (medical_safety sends always go)",
    )
    holidays: list[HolidaySettings] = Field(default_factory=list, max_length=366)
    slot_minutes: int = Field(60, ge=1, le=1440, description="one non-medical send per slot")
    per_slot: int = Field(1, ge=1, le=10)
    active_hour: bool = Field(True, description="marketing waits for the usual active hour")
    elderly_channels: list[Literal["sms", "wechat", "app_push", "email", "phone"]] = [
        "sms",
        "phone",
    ]
    default_channels: list[Literal["sms", "wechat", "app_push", "email", "phone"]] = [
        "wechat",
        "app_push",
        "sms",
    ]
    file_channel_path: str | None = Field(
        None,
        description="JSON Lines file of the file channel; empty: outbox/messages.jsonl beside "
        "the warehouse",
    )


class RetrySettings(BaseModel):
    """Retries of a send on transient failures (timeouts, 5xx, throttling): exponential backoff,
    none on permanent failures, undeliverable after `max_tries`."""

    max_tries: int = Field(4, ge=1, le=20, description="tries before a send is undeliverable")
    backoff_s: float = Field(1.0, ge=0, le=3600, description="wait before the 2nd try")
    backoff_factor: float = Field(2.0, ge=1, le=10, description="each wait is this × the last")
    backoff_max_s: float = Field(300.0, ge=0, le=86400, description="longest single wait")


class EmailChannelSettings(BaseModel):
    """E-mail over SMTP (docs/channels.md)."""

    host: str | None = Field(None, description="SMTP server; empty: the channel is off")
    port: int = Field(587, ge=1, le=65535)
    security: Literal["starttls", "tls", "none"] = Field(
        "starttls", description="STARTTLS on a plain port, TLS from the start (465), or none"
    )
    username: str | None = None
    password: SecretStr | None = None
    sender: str = Field("noreply@hospital.example", description="From: address")
    sender_name: str = Field("互联网医院", description="From: display name")
    ca_file: str | None = Field(None, description="CA bundle for the server's certificate")
    timeout_s: float = Field(10.0, gt=0, le=300)


class AliyunSmsSettings(BaseModel):
    """Alibaba Cloud SMS (dysmsapi SendSms, RPC signature HMAC-SHA1)."""

    endpoint: str = "https://dysmsapi.aliyuncs.com/"
    access_key_id: str | None = None
    access_key_secret: SecretStr | None = None
    sign_name: str = Field("", description="approved SMS signature (签名)")
    region: str = "cn-hangzhou"


class TencentSmsSettings(BaseModel):
    """Tencent Cloud SMS (SendSms 2021-01-11, TC3-HMAC-SHA256)."""

    endpoint: str = "https://sms.tencentcloudapi.com/"
    secret_id: str | None = None
    secret_key: SecretStr | None = None
    sdk_app_id: str = Field("", description="SmsSdkAppId of the SMS application")
    sign_name: str = Field("", description="approved SMS signature (签名)")
    region: str = "ap-guangzhou"


class SmsChannelSettings(BaseModel):
    """SMS: which provider, and each provider's credentials."""

    provider: Literal["aliyun", "tencent"] | None = Field(
        None, description="SMS provider; empty: the channel is off"
    )
    aliyun: AliyunSmsSettings = AliyunSmsSettings()
    tencent: TencentSmsSettings = TencentSmsSettings()
    templates: dict[str, str] = Field(
        default_factory=dict,
        description="CareOps template name -> the provider's approved template code/id",
    )


class WechatChannelSettings(BaseModel):
    """WeChat official-account template / subscribe messages."""

    base_url: str = "https://api.weixin.qq.com"
    app_id: str | None = Field(None, description="AppID; empty: the channel is off")
    app_secret: SecretStr | None = None
    kind: Literal["template", "subscribe"] = Field(
        "template", description="template messages or subscribe (订阅通知 bizsend) messages"
    )
    templates: dict[str, str] = Field(
        default_factory=dict, description="CareOps template name -> WeChat template_id"
    )
    url: str | None = Field(None, description="page a tap opens")
    push_token: SecretStr | None = Field(
        None, description="server-config Token that signs WeChat's event pushes (receipts)"
    )


class JPushChannelSettings(BaseModel):
    """App push through JPush REST API v3."""

    base_url: str = "https://api.jpush.cn"
    app_key: str | None = Field(None, description="appKey; empty: the channel is off")
    master_secret: SecretStr | None = None
    apns_production: bool = True
    time_to_live_s: int = Field(86400, ge=0, le=864000)


class ChannelSettings(BaseModel):
    """The real channels (docs/channels.md): providers, credentials, retries, limits.
    Credentials come from here or the environment (`CAREOPS_CHANNELS__SMS__ALIYUN__...`)."""

    retry: RetrySettings = RetrySettings()
    timeout_s: float = Field(10.0, gt=0, le=300, description="HTTP providers: whole request")
    max_response_bytes: int = Field(
        1_000_000, ge=1024, le=100_000_000, description="a larger provider answer is refused"
    )
    email: EmailChannelSettings = EmailChannelSettings()
    sms: SmsChannelSettings = SmsChannelSettings()
    wechat: WechatChannelSettings = WechatChannelSettings()
    app_push: JPushChannelSettings = JPushChannelSettings()


class CouponRule(BaseModel):
    """A consultation coupon points can buy."""

    points: int = Field(gt=0, le=1_000_000, description="points it costs")
    value_cny: float = Field(gt=0, le=10_000, description="yuan off a consultation")
    valid_days: int = Field(90, ge=1, le=3650, description="usable for this long after issue")


def _ascending_levels(v: dict[str, int]) -> dict[str, int]:
    mins = list(v.values())
    if not mins or mins[0] != 0 or any(b <= a for a, b in itertools.pairwise(mins)):
        raise ValueError("levels: thresholds must start at 0 and rise strictly")
    return v


class PointsSettings(BaseModel):
    """Growth points and levels (SPEC §8; docs/points.md): points per earning rule, level
    thresholds on the points earned in the last `level_window_days`, coupons, expiry."""

    patient_rules: dict[str, int] = Field(
        default_factory=lambda: {
            "checkup": 100,
            "package": 200,
            "consultation": 20,
            "survey": 10,
            "manual": 0,
        },
        description="points per patient earning rule (0: the caller gives the points)",
    )
    doctor_rules: dict[str, int] = Field(
        default_factory=lambda: {"answer": 10, "good_rating": 5, "article": 50, "manual": 0},
        description="points per doctor output: answered consultation, rating ≥ good_rating_min, "
        "article",
    )
    good_rating_min: float = Field(4.0, ge=1, le=5, description="a rating this high earns points")
    patient_levels: dict[str, int] = Field(
        default_factory=lambda: {
            "member": 0,
            "silver": 500,
            "gold": 2000,
            "platinum": 5000,
            "diamond": 10000,
        },
        description="level -> points earned in the window needed to reach it",
    )
    doctor_levels: dict[str, int] = Field(
        default_factory=lambda: {"rising": 0, "skilled": 500, "senior": 2000, "star": 6000}
    )
    level_window_days: int = Field(365, ge=1, le=3650, description="levels count points earned")
    expire_days: int = Field(365, ge=1, le=3650, description="an earned lot expires after")
    max_points: int = Field(100_000, ge=1, description="most points one entry may carry")
    coupons: dict[str, CouponRule] = Field(
        default_factory=lambda: {
            "consult_10": CouponRule(points=500, value_cny=10.0),
            "consult_30": CouponRule(points=1200, value_cny=30.0),
            "consult_free": CouponRule(points=3000, value_cny=80.0),
        }
    )

    @field_validator("patient_levels", "doctor_levels")
    @classmethod
    def _levels(cls, v: dict[str, int]) -> dict[str, int]:
        return _ascending_levels(v)


class ReferralSettings(BaseModel):
    """Referral (裂变, SPEC §8; docs/points.md): codes, rewards, fraud guards."""

    link_base: str = Field(
        "https://m.hospital.example.cn/invite", description="invite links are this + ?code=…"
    )
    code_valid_days: int = Field(90, ge=1, le=3650, description="an invite code expires after")
    channels: tuple[str, ...] = Field(
        ("wechat", "moments", "sms", "poster", "link"), description="channels a code is for"
    )
    reward_cny: float = Field(50.0, ge=0, description="paid to inviter and invitee each")
    checkup_after: int = Field(3, ge=1, description="qualified invitees earning a free check-up")
    qualifying_categories: tuple[str, ...] = Field(
        ("consultation", "checkup", "package", "drug"),
        description="a paid order of these is the invitee's first qualifying action",
    )
    qualify_within_days: int = Field(90, ge=1, description="after sign-up, else no reward")
    max_per_device: int = Field(2, ge=1, description="sign-ups from one device rewarded")
    max_per_phone_prefix: int = Field(
        3, ge=1, description="one inviter's sign-ups sharing a phone prefix rewarded"
    )
    phone_prefix_digits: int = Field(7, ge=3, le=11, description="号段: the first digits")


class Settings(BaseSettings):
    """All of CareOps' configuration."""

    model_config = SettingsConfigDict(
        env_prefix="CAREOPS_", env_nested_delimiter="__", extra="forbid"
    )

    warehouse: str = "duckdb:///careops-data/warehouse.duckdb"
    state: str | None = Field(None, description="state store URL; empty: beside the warehouse")
    timezone: str = "Asia/Shanghai"
    lang: Lang = "zh"
    ingest: IngestSettings = IngestSettings()
    lifecycle: LifecycleSettings = LifecycleSettings()
    value: ValueSettings = ValueSettings()
    health: HealthSettings = HealthSettings()
    experiments: ExperimentSettings = ExperimentSettings()
    tags: TagSettings = TagSettings()
    metrics: MetricsSettings = MetricsSettings()
    privacy: PrivacySettings = PrivacySettings()
    models: ModelSettings = ModelSettings()
    api: ApiSettings = ApiSettings()
    intake: IntakeSettings = IntakeSettings()
    service: ServiceSettings = ServiceSettings()
    spark: SparkSettings = SparkSettings()
    sql: SqlSettings = SqlSettings()
    journeys: JourneySettings = JourneySettings()
    channels: ChannelSettings = ChannelSettings()

    points: PointsSettings = PointsSettings()
    referral: ReferralSettings = ReferralSettings()

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            msg = f"unknown timezone {v!r}; use an IANA name like Asia/Shanghai"
            raise ValueError(msg) from exc
        return v

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources = [init_settings, env_settings]
        path = config_path()
        if path is not None:
            sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=path))
        return tuple(sources)


def config_path() -> Path | None:
    """The YAML file in force: `CAREOPS_CONFIG` (set but empty: none), else `./careops.yaml`."""
    explicit = os.environ.get("CAREOPS_CONFIG")
    if explicit == "":
        return None
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            from careops.errors import ConfigError

            raise ConfigError(f"CAREOPS_CONFIG points to {path}, which is not a file")
        return path
    default = Path("careops.yaml")
    return default if default.is_file() else None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings, read once per process (tests call `get_settings.cache_clear()`)."""
    from pydantic import ValidationError

    from careops.errors import ConfigError

    try:
        return Settings()
    except ValidationError as exc:
        raise ConfigError(f"invalid configuration: {exc}") from exc
