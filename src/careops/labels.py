"""The label catalogue: every word the CLI, the report and the pages show, in Chinese and English.

Results carry codes (`lifecycle = "occasional"`, `source_channel = "wechat_ads"`, metric
`d7_retention`); the shell — a CLI command, the HTML report, a cockpit page — turns them into
words here, at the edge, in the language asked for (Chinese by default). One flat table of
`key → (zh, en)`, keys namespaced by what they name:

| key | names |
|---|---|
| `tag.<name>` · `value.<tag>.<code>` | a tag and its category values (layers included) |
| `metric.<name>` · `category.<category>` · `unit.<unit>` | metrics, their groups and units |
| `channel.<code>` · `contact_channel.<code>` | acquisition channels, message channels |
| `by.<name>` · `funnel_step.<code>` · `word.<name>` | breakdowns, funnel steps, status words |
| `mode.*` · `order_category.*` · `order_status.*` | coded values of the canonical tables |
| `ingest.*` · `report.*` · `experiment.*` · `journeys.*` · `churn.*` | each shell's own texts |
| `cluster.*` · `demo.*` · `sim.*` | … and those of the demo and the simulator |
| `page.*` | the cockpit's own words (navigation, buttons, headings) |
| `recommend.*` | the recommendation report |
| `permission.*` · `role.*` | what each permission lets one do, the roles' names |

English descriptions of tags and metrics stay beside their definition (with the formula);
their Chinese text is in `DESCRIPTIONS_ZH`. Names follow the glossary (`occasional` 低频用户).
One lookup, `label(key, lang, **fields)`; a shell that names only its own section binds it
with `scoped` (`careops.web.texts.text` is `scoped("page")`, `careops.i18n.label` is
`scoped("ingest")`, `careops.experiments.labels.label` is `scoped("experiment")`), and a
template takes a section at once with `words` (`t.title`). Every key a template or a module
names literally is checked against this table by `tests/test_labels.py`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

#: key → (zh, en)
CATALOGUE: dict[str, tuple[str, str]] = {
    # ingestion and quarantine (was careops.i18n.LABELS)
    "ingest.table": ("表", "table"),
    "ingest.rows": ("行数", "rows"),
    "ingest.loaded": ("已加载", "loaded"),
    "ingest.duplicates": ("重复(跳过)", "duplicates"),
    "ingest.quarantined": ("隔离", "quarantined"),
    "ingest.flagged": ("标记(未知用户)", "flagged"),
    "ingest.source": ("文件", "source"),
    "ingest.status": ("结果", "status"),
    "ingest.reason": ("原因", "reason"),
    "ingest.record": ("记录", "record"),
    "ingest.field": ("字段", "field"),
    "ingest.load_id": ("批次", "load"),
    "ingest.ingest_title": ("导入结果", "Ingestion summary"),
    "ingest.files_title": ("文件", "Files"),
    "ingest.tables_title": ("仓库中的表", "Warehouse tables"),
    "ingest.quarantine_title": ("隔离区", "Quarantine"),
    "ingest.loaded_status": ("已加载", "loaded"),
    "ingest.rejected_status": ("整批拒绝", "rejected"),
    "ingest.unreadable_status": ("无法读取", "unreadable"),
    "ingest.skipped_status": ("跳过", "skipped"),
    "ingest.already_loaded_status": ("已导入过", "already loaded"),
    "ingest.warning": ("提示", "note"),
    "ingest.open_record": ("待修复", "open"),
    "ingest.resolved_record": ("已修复", "resolved"),
    "ingest.exported": (
        "已导出 {n} 条记录 → {path}; 修复后用 careops ingest 重新导入",
        "{n} record(s) → {path}; repair them, then careops ingest the file",
    ),
    "ingest.next_step": ("下一步", "next"),
    "ingest.hint_mapping": (
        "{file} 缺少 {table} 的必需列 {columns}: 在映射文件的 columns 中把文件里的"
        "列名对应到 {columns} (示例 "
        "examples/his_export/mapping.yaml), 再运行 careops ingest {file} --mapping 映射.yaml",
        "{file} lacks the required {table} column(s) {columns}: map the file's own "
        "column names onto them under `columns:` of a mapping file (example: "
        "examples/his_export/mapping.yaml), then careops ingest {file} --mapping "
        "mapping.yaml",
    ),
    "ingest.hint_rejected": (
        "{file} 未导入: 查看坏行 careops quarantine list --load {load}, 在原文件中"
        "修正后重新导入 careops "
        "ingest {file}",
        "{file} was not loaded: see the bad rows with careops quarantine list --load "
        "{load}, fix them in the file and ingest it again: careops ingest {file}",
    ),
    "ingest.hint_quarantined": (
        "{file} 有被隔离的行: careops quarantine export --load {load} 待修复.csv, 修正后 careops "
        "ingest 待修复.csv",
        "{file} has quarantined rows: careops quarantine export --load {load} fix.csv, "
        "repair them, then careops ingest fix.csv",
    ),
    "ingest.hint_replace": (
        "若 {file} 之前导入有误(如映射错误), 改正后用 careops ingest {file} "
        "--replace 重新导入, 同键的行会被替换",
        "if {file} was loaded wrongly (a wrong mapping), correct it and run careops "
        "ingest {file} --replace: rows with its keys are replaced",
    ),
    "ingest.simulator_note": (
        "{folder} 是模拟器输出: {files} 是模拟器的答案(真实值与校准), 不是医院数据, 未导入",
        "{folder} is a simulator output: {files} are the simulator's answers (ground "
        "truth and calibration), not hospital data; not loaded",
    ),
    # the HTML report (was careops.report.labels.TEXT)
    "metrics.stale_note": (
        "提示: 数据截止 {end}，早于统计日 {as_of}，近期窗口内可能没有数据；"
        "用 --as-of {next} 统计到数据末尾",
        "note: the data ends on {end}, before as-of {as_of}, so recent windows may be "
        "empty; use --as-of {next} to count up to the end of the data",
    ),
    "report.title": ("互联网医院运营指标报告", "Internet hospital operations report"),
    "report.as_of": ("统计截至", "As of"),
    "report.as_of_note": (
        "（仅统计该日 00:00 医院时间之前的数据）",
        "(facts before 00:00 of that day, hospital time)",
    ),
    "report.generated": ("生成时间", "Generated"),
    "report.timezone": ("医院时区", "Hospital timezone"),
    "report.kpis": ("核心指标", "Key metrics"),
    "report.funnel": ("转化漏斗", "Conversion funnel"),
    "report.funnel_note": (
        "{params}；按顺序完成各步骤的用户，流失为与上一步之差",
        "{params}; users completing each step in order, dropped = difference to the step before",
    ),
    "report.cohort": ("注册周同期群留存", "Retention by registration week"),
    "report.cohort_note": (
        "第 n 日留存 = 注册后恰好第 n 天活跃；空白表示该日尚未结束",
        "Dn = active exactly on day n after registering; blank = day n not over yet",
    ),
    "report.channels": ("渠道获客与价值", "Acquisition and value by channel"),
    "report.layers": ("分层留存与转化（按{by}）", "Retention and conversion by {by}"),
    "report.medical": ("医疗价值", "Medical value"),
    "report.step": ("步骤", "Step"),
    "report.users": ("用户数", "Users"),
    "report.from_previous": ("环节转化率", "From previous"),
    "report.from_first": ("总转化率", "From first"),
    "report.dropped": ("流失人数", "Dropped"),
    "report.cohort_col": ("同期群", "Cohort"),
    "report.size": ("人数", "Size"),
    "report.channel": ("渠道", "Channel"),
    "report.no_data": ("暂无数据", "No data"),
    "report.small_group": ("(不足{n}人)", " (< {n} users)"),
    "report.small_note": (
        "不足 {n} 人的分组不显示比例与均值（标注“不足{n}人”）",
        "groups of fewer than {n} users show no rates or means (marked)",
    ),
    "report.axis_left": ("(左轴)", " (left axis)"),
    "report.axis_right": ("(右轴)", " (right axis)"),
    "report.data_end": ("数据截止", "Data end"),
    "report.footer": (
        "CareOps 运营驾驶舱 · 指标定义见 docs/metrics.md",
        "CareOps cockpit · metric definitions in docs/metrics.md",
    ),
    # journeys (careops.journeys): commands, steps and send-policy reasons
    "journeys.title": ("旅程", "Journeys"),
    "journeys.warning": ("警告", "warning"),
    "journeys.col.key": ("标识", "Key"),
    "journeys.col.name": ("名称", "Name"),
    "journeys.col.version": ("版本", "Version"),
    "journeys.col.trigger": ("触发", "Trigger"),
    "journeys.col.steps": ("步骤数", "Steps"),
    "journeys.col.origin": ("来源", "Origin"),
    "journeys.col.valid": ("有效", "Valid"),
    "journeys.col.step": ("步骤", "Step"),
    "journeys.col.type": ("类型", "Type"),
    "journeys.col.detail": ("内容", "Detail"),
    "journeys.col.next": ("下一步", "Next"),
    "journeys.origin.template": ("内置模板", "template"),
    "journeys.origin.hospital": ("医院自定义", "hospital"),
    "journeys.trigger.event": ("事件", "event"),
    "journeys.trigger.segment_entry": ("进入人群", "segment entry"),
    "journeys.trigger.segment_exit": ("离开人群", "segment exit"),
    "journeys.trigger.layer_entry": ("进入分层", "layer entry"),
    "journeys.trigger.layer_exit": ("离开分层", "layer exit"),
    "journeys.trigger.date": ("日期", "date"),
    "journeys.trigger.schedule": ("定时", "schedule"),
    "journeys.step.wait": ("等待", "wait"),
    "journeys.step.branch": ("分支", "branch"),
    "journeys.step.split": ("分流", "split"),
    "journeys.step.message": ("消息", "message"),
    "journeys.step.coupon": ("优惠券", "coupon"),
    "journeys.step.points": ("积分", "points"),
    "journeys.step.task": ("任务", "task"),
    "journeys.step.webhook": ("回调", "webhook"),
    "journeys.purpose.marketing": ("营销", "marketing"),
    "journeys.purpose.service": ("服务", "service"),
    "journeys.purpose.medical": ("医疗", "medical"),
    "journeys.decision.send": ("发送", "send"),
    "journeys.decision.defer": ("延后", "defer"),
    "journeys.decision.suppress": ("不发送", "suppress"),
    "journeys.reason.ok": ("通过", "allowed"),
    "journeys.reason.not_due": ("未到时间", "not due yet"),
    "journeys.reason.no_channel": ("无可用渠道", "no bound channel"),
    "journeys.reason.global_control": ("全局对照组", "global control group"),
    "journeys.reason.no_consent": ("未同意营销", "no marketing consent"),
    "journeys.reason.consent_withdrawn": ("已撤回同意", "consent withdrawn"),
    "journeys.reason.holiday": ("节假日免打扰", "holiday do-not-disturb"),
    "journeys.reason.quiet_hours": ("免打扰时段", "quiet hours"),
    "journeys.reason.active_hour": ("等待常用活跃时段", "waiting for the usual active hour"),
    "journeys.reason.journey_cap_day": ("本旅程当日上限", "journey daily cap"),
    "journeys.reason.journey_cap_7_days": ("本旅程 7 日上限", "journey 7-day cap"),
    "journeys.reason.cap_day": ("当日频次上限", "daily frequency cap"),
    "journeys.reason.cap_7_days": ("7 日频次上限", "7-day frequency cap"),
    "journeys.reason.slot_taken": ("同时段已有更高优先级消息", "slot taken by a higher priority"),
    # the journey engine (careops.journeys.engine): dry-run, run, send log
    "journeys.dry.title": ("预演", "Dry run"),
    "journeys.dry.entrants": ("进入人数", "entrants"),
    "journeys.dry.refused": ("因再进入规则排除", "refused by the re-entry rule"),
    "journeys.dry.counts": ("各步骤动作数", "Actions per step"),
    "journeys.dry.n": ("人数", "Patients"),
    "journeys.dry.user": ("患者", "Patient"),
    "journeys.dry.path": ("路径", "Path"),
    "journeys.dry.actions": ("动作", "Actions"),
    "journeys.run.title": ("旅程运行", "Journey run"),
    "journeys.run.entered": ("进入", "entered"),
    "journeys.run.woken": ("事件唤醒", "woken by an event"),
    "journeys.run.batches": ("批次", "batches"),
    "journeys.run.steps": ("处理的注册", "enrolments processed"),
    "journeys.run.sent": ("发送", "sent"),
    "journeys.run.deferred": ("延后", "deferred"),
    "journeys.run.suppressed": ("不发送", "suppressed"),
    "journeys.run.exited": ("退出", "exited"),
    "journeys.run.completed": ("完成", "completed"),
    "journeys.run.dispatched": ("已交付渠道", "handed to channels"),
    "journeys.run.responses": ("模拟应答", "simulated answers"),
    "sends.exported": ("已导出发送记录", "send log exported"),
    "journeys.measure.step": ("步骤", "Step"),
    "journeys.measure.reached": ("到达", "Reached"),
    "journeys.measure.sent": ("发送", "Sent"),
    "journeys.measure.delivered": ("送达", "Delivered"),
    "journeys.measure.suppressed": ("未发送", "Suppressed"),
    "journeys.measure.opened": ("打开", "Opened"),
    "journeys.measure.clicked": ("点击", "Clicked"),
    "journeys.measure.converted": ("转化", "Converted"),
    "journeys.measure.revenue": ("归因收入", "Attributed revenue"),
    "journeys.measure.incremental": ("每人增量收入(对照组)", "Incremental revenue per patient"),
    # experiment commands (was careops.experiments.labels.LABELS)
    "experiment.variant": ("组别", "Variant"),
    "experiment.n": ("用户数", "Users"),
    "experiment.mean": ("均值", "Mean"),
    "experiment.absolute_lift": ("绝对提升", "Abs. lift"),
    "experiment.relative_lift": ("相对提升", "Rel. lift"),
    "experiment.p_value": ("p 值", "p-value"),
    "experiment.adjusted_p": ("校正后 p", "Adj. p"),
    "experiment.chance_to_win": ("胜出概率", "Chance to win"),
    "experiment.expected_loss": ("预期损失", "Expected loss"),
    "experiment.control": ("对照组", "control"),
    "experiment.srm": ("样本比例检验 (SRM)", "Sample-ratio check (SRM)"),
    "experiment.srm_ok": ("分组比例正常", "split matches the design"),
    "experiment.srm_bad": (
        "分组比例异常：分流或埋点可能有误，结果不可信",
        "split does not match the design: assignment or logging is broken; do not trust "
        "these results",
    ),
    "experiment.metric": ("指标", "Metric"),
    "experiment.kind_proportion": ("比例型", "proportion"),
    "experiment.kind_mean": ("均值型", "mean"),
    "experiment.kind_ratio": ("比率型，delta 法", "ratio, delta method"),
    "experiment.experiment": ("实验", "Experiment"),
    "experiment.window": ("观察窗口", "window"),
    "experiment.exposed": ("曝光用户", "exposed users"),
    "experiment.pre_period": ("CUPED 前置期", "CUPED pre-period"),
    "experiment.role_primary": ("主要指标", "primary"),
    "experiment.role_guardrail": ("护栏指标", "guardrail"),
    "experiment.across_metrics": ("跨指标与组别联合校正", "across metrics and variants"),
    "experiment.cuped": ("CUPED 方差缩减", "CUPED variance reduction"),
    "experiment.variance_removed": ("方差减少", "variance removed"),
    "experiment.sequential": ("序贯检验（可随时查看）", "sequential (safe to peek)"),
    "experiment.correction": ("多重比较校正", "Multiple-comparison correction"),
    "experiment.title": ("A/B 实验分析", "A/B experiment analysis"),
    "experiment.power_title": ("样本量估算", "Sample size"),
    "experiment.per_arm_control": ("对照组用户数", "Control users"),
    "experiment.per_arm_treatment": ("实验组用户数", "Treatment users"),
    "experiment.total": ("总用户数", "Total users"),
    "experiment.achieved_power": ("实际检验效能", "Achieved power"),
    "experiment.significant": ("显著", "significant"),
    "experiment.key": ("实验", "Key"),
    "experiment.variants": ("组别与权重", "Variants"),
    "experiment.segment": ("目标人群", "Segment"),
    "experiment.start": ("开始", "Start"),
    "experiment.end": ("结束", "End"),
    "experiment.primary": ("主要指标", "Primary metrics"),
    "experiment.status": ("状态", "Status"),
    "experiment.status_planned": ("未开始", "not started"),
    "experiment.status_running": ("进行中", "running"),
    "experiment.status_ended": ("已结束", "ended"),
    "experiment.list_title": ("实验列表", "Experiments"),
    "experiment.open": ("不限", "open"),
    "experiment.created": ("实验已创建", "Experiment created"),
    "experiment.stopped": ("实验已停止", "Experiment stopped"),
    "experiment.deleted": ("实验已删除", "Experiment deleted"),
    "experiment.segment_saved": ("已保存人群", "saved segment"),
    "experiment.segment_rule": ("规则", "rule"),
    "experiment.everyone": ("全部用户", "everyone"),
    "experiment.audited": ("已记入审计日志", "recorded in the audit log"),
    "experiment.power_inputs": ("输入", "Inputs"),
    "experiment.baseline_to_target": ("基线 → 目标", "baseline → target"),
    "experiment.mde_absolute": ("最小可检测效应（绝对）", "MDE (absolute)"),
    "experiment.mde_relative": ("最小可检测效应（相对）", "MDE (relative)"),
    "experiment.alpha": ("显著性水平 α", "significance α"),
    "experiment.power": ("检验效能", "power"),
    "experiment.sides": ("双侧检验", "two-sided test"),
    "experiment.ratio": ("实验组 : 对照组", "treatment : control"),
    "experiment.sd": ("每用户标准差", "per-user SD"),
    # metric categories, units, breakdowns, funnel steps
    "category.acquisition": ("获客", "Acquisition"),
    "category.conversion": ("转化", "Conversion"),
    "category.retention": ("留存", "Retention"),
    "category.referral": ("裂变", "Referral"),
    "category.value": ("价值", "Value"),
    "category.experience": ("体验", "Experience"),
    "category.medical": ("医疗价值", "Medical value"),
    "unit.ratio": ("比例", "share"),
    "unit.count": ("人数", "count"),
    "unit.cny": ("元", "CNY"),
    "unit.days": ("天", "days"),
    "unit.seconds": ("秒", "seconds"),
    "unit.score": ("分", "score"),
    "unit.per_user": ("每人", "per user"),
    "by.sex": ("性别", "sex"),
    "by.region": ("地区", "region"),
    "by.city": ("城市", "city"),
    "by.source_channel": ("渠道", "channel"),
    "by.channel": ("渠道", "channel"),
    "funnel_step.register": ("注册", "Register"),
    "funnel_step.app_open": ("打开应用", "Open app"),
    "funnel_step.search": ("搜索", "Search"),
    "funnel_step.view_content": ("浏览内容", "View content"),
    "funnel_step.view_doctor": ("浏览医生", "View doctor"),
    "funnel_step.consult": ("问诊", "Consult"),
    "funnel_step.book": ("预约", "Book"),
    "funnel_step.pay": ("支付", "Pay"),
    "funnel_step.repurchase": ("复购", "Repurchase"),
    "funnel_step.package": ("购买服务包", "Buy package"),
    "funnel_step.share": ("分享", "Share"),
    "funnel_step.invite": ("邀请", "Invite"),
    # tags and their values (labels as defined in careops.tags; names per the glossary)
    "tag.last_consult_at": ("最近问诊时间", "Last consultation"),
    "tag.consults_30d": ("近30天问诊次数", "Consultations, 30 days"),
    "tag.consults_90d": ("近90天问诊次数", "Consultations, 90 days"),
    "tag.orders_30d": ("近30天订单数", "Paid orders, 30 days"),
    "tag.orders_90d": ("近90天订单数", "Paid orders, 90 days"),
    "tag.search_keywords": ("近期搜索关键词", "Recent search keywords"),
    "tag.usual_active_hour": ("常用活跃时段", "Usual active hour"),
    "tag.night_owl": ("夜猫子", "Night owl"),
    "tag.active_days_30d": ("近30天活跃天数", "Active days, 30 days"),
    "tag.services_30d": ("近30天服务次数", "Services, 30 days"),
    "tag.last_active_day": ("最近活跃日", "Last active day"),
    "tag.package_activation": ("服务包激活状态", "Package activation"),
    "value.package_activation.behind": ("激活落后", "Behind on activation"),
    "value.package_activation.on_pace": ("激活进度正常", "On pace"),
    "value.package_activation.activated": ("已激活", "Activated"),
    "tag.package_uses_short": ("激活期还差次数", "Activation uses short"),
    "tag.inactive_days": ("未活跃天数", "Inactive days"),
    "tag.has_hypertension": ("高血压史", "Hypertension history"),
    "tag.has_diabetes": ("糖尿病史", "Diabetes history"),
    "tag.has_coronary_heart_disease": ("冠心病史", "Coronary heart disease history"),
    "tag.has_copd": ("慢阻肺史", "COPD history"),
    "tag.has_asthma": ("哮喘史", "Asthma history"),
    "tag.has_chronic_kidney_disease": ("慢性肾病史", "Chronic kidney disease history"),
    "tag.has_hyperlipidemia": ("高脂血症史", "Hyperlipidemia history"),
    "tag.chronic_conditions": ("慢病", "Chronic conditions"),
    "tag.chronic": ("慢病患者", "Chronic patient"),
    "tag.allergy": ("过敏史", "Allergy"),
    "tag.family_history": ("家族史", "Family history"),
    "tag.days_without_bp": ("未测血压天数", "Days without BP reading"),
    "tag.days_without_glucose": ("未测血糖天数", "Days without glucose reading"),
    "tag.health_stage": ("健康阶段", "Health stage"),
    "value.health_stage.prevention": ("预防期", "Prevention"),
    "value.health_stage.self_check": ("症状自查期", "Symptom self-check"),
    "value.health_stage.in_treatment": ("治疗期", "In treatment"),
    "value.health_stage.recovery": ("康复期", "Recovery"),
    "tag.need_priority": ("需求优先级", "Need priority"),
    "value.need_priority.high": ("高", "High"),
    "value.need_priority.mid": ("中", "Mid"),
    "value.need_priority.low": ("低", "Low"),
    "tag.lifecycle": ("生命周期", "Lifecycle"),
    "value.lifecycle.new": ("新用户", "New"),
    "value.lifecycle.active": ("活跃用户", "Active"),
    "value.lifecycle.occasional": ("低频用户", "Occasional"),
    "value.lifecycle.silent": ("沉默用户", "Silent"),
    "value.lifecycle.churned": ("流失用户", "Churned"),
    "tag.churn_risk": ("流失预警", "At risk"),
    "tag.churn_score": ("流失风险分", "Churn score"),
    "tag.churn_reasons": ("流失原因", "Churn reasons"),
    "tag.churn_scored_as_of": ("流失评分日", "Churn scored as of"),
    "tag.churn_driver": ("流失主因", "Churn driver"),
    "value.churn_driver.service": ("服务体验", "Service experience"),
    "value.churn_driver.payment": ("支付失败", "Payment failure"),
    "value.churn_driver.unmet_need": ("需求未满足", "Unmet need"),
    "value.churn_driver.need_changed": ("需求变化(疗程结束)", "Need changed (episode ended)"),
    "value.churn_driver.new_user": ("新用户期", "New-user period"),
    "value.churn_driver.low_value": ("获益不足", "Little value received"),
    "value.churn_driver.unknown": ("原因不明", "Unknown"),
    "churn.at_risk": ("流失高风险患者的主因", "Drivers of the patients at risk"),
    "churn.churned": ("已流失患者的主因", "Drivers of the patients who left"),
    "churn.driver": ("主因", "driver"),
    "churn.patients": ("人数", "patients"),
    "churn.share": ("占比", "share"),
    "churn.mean_logit": ("平均贡献(对数几率)", "mean log-odds added"),
    "churn.phrase": ("常见原因", "frequent reason"),
    "churn.truth": ("与模拟器真值对照", "Against the simulator's truth"),
    "churn.true_driver": ("真实主因", "true driver"),
    "churn.found": ("诊断一致", "diagnosed alike"),
    "churn.contribution": ("贡献", "contribution"),
    "churn.feature": ("特征", "feature"),
    "churn.value": ("取值", "value"),
    "churn.reason": ("原因", "reason"),
    "tag.predicted_ltv": ("预测LTV(元)", "Predicted LTV (CNY)"),
    "tag.ltv_tier_predicted": ("预测LTV分层", "Predicted LTV tier"),
    "value.ltv_tier_predicted.ltv_high": ("高LTV(>¥1000)", "LTV high"),
    "value.ltv_tier_predicted.ltv_mid": ("中LTV(¥300–1000)", "LTV mid"),
    "value.ltv_tier_predicted.ltv_low": ("低LTV(<¥300)", "LTV low"),
    "tag.next_need": ("下一需求", "Next need"),
    "tag.health_need": ("健康需求", "Health need"),
    "value.health_need.health_management": ("健康管理型", "Health management"),
    "value.health_need.acute": ("急症问诊型", "Acute consultation"),
    "value.health_need.prevention": ("预防保健型", "Prevention"),
    "value.health_need.medical_resources": ("医疗资源型", "Medical resources"),
    "tag.data_richness": ("数据丰富度", "Data richness"),
    "value.data_richness.medical": ("医疗数据型", "Medical data"),
    "value.data_richness.behavioral": ("行为数据型", "Behavioural data"),
    "value.data_richness.basic": ("基础数据型", "Basic data"),
    "tag.frequent_consulter": ("高频问诊", "Frequent consulter"),
    "tag.health_manager": ("健康管理", "Health manager"),
    "tag.interactive": ("互动参与", "Interactive participant"),
    "tag.active_subgroup": ("活跃细分", "Active sub-group"),
    "value.active_subgroup.frequent_consulter": ("高频问诊", "Frequent consulter"),
    "value.active_subgroup.health_manager": ("健康管理", "Health manager"),
    "value.active_subgroup.interactive": ("互动参与", "Interactive participant"),
    "tag.elderly": ("老年人", "Elderly"),
    "tag.child": ("儿童", "Child"),
    "tag.age": ("年龄", "Age"),
    "tag.age_band": ("年龄段", "Age band"),
    "value.age_band.0-14": ("0-14岁", "0-14"),
    "value.age_band.15-24": ("15-24岁", "15-24"),
    "value.age_band.25-34": ("25-34岁", "25-34"),
    "value.age_band.35-44": ("35-44岁", "35-44"),
    "value.age_band.45-59": ("45-59岁", "45-59"),
    "value.age_band.60+": ("60岁及以上", "60+"),
    "value.age_band.unknown": ("未知", "Unknown"),
    "tag.sex": ("性别", "Sex"),
    "value.sex.M": ("男", "Male"),
    "value.sex.F": ("女", "Female"),
    "value.sex.U": ("未知", "Unknown"),
    "tag.region": ("地区", "Region"),
    "tag.registered_days": ("注册天数", "Days since registration"),
    "tag.managed_by": ("代管账号", "Managed by"),
    "tag.proxy_managed": ("家属代管", "Managed by family"),
    "tag.family_manager": ("家庭账号管理者", "Family account manager"),
    "tag.rfm_recency": ("R评分", "RFM recency score"),
    "tag.rfm_frequency": ("F评分", "RFM frequency score"),
    "tag.rfm_monetary": ("M评分", "RFM monetary score"),
    "tag.rfm_score": ("RFM总分", "RFM score"),
    "tag.health_contribution": ("健康贡献度", "Health contribution"),
    "tag.paid_orders": ("付费订单数", "Paid orders"),
    "tag.spend_cny": ("累计消费", "Total spend (¥)"),
    "tag.repurchase_confirmed": ("复购确认", "Repurchase confirmed"),
    "tag.high_spend_unconfirmed": ("高消费待复购确认", "High spend, no repurchase yet"),
    "tag.ltv_tier": ("LTV分层", "LTV tier"),
    "value.ltv_tier.ltv_high": ("高LTV(>¥1000)", "LTV high"),
    "value.ltv_tier.ltv_mid": ("中LTV(¥300–1000)", "LTV mid"),
    "value.ltv_tier.ltv_low": ("低LTV(<¥300)", "LTV low"),
    "tag.value": ("价值", "Value"),
    "value.value.high": ("高价值", "High value"),
    "value.value.mid": ("中价值", "Mid value"),
    "value.value.low": ("低价值", "Low value"),
    # metrics (careops.metrics; names per the glossary)
    "metric.new_users": ("新增用户", "New users"),
    "metric.cac": ("获客成本", "CAC"),
    "metric.precise_reach_rate": ("精准触达率", "Precise-reach rate"),
    "metric.funnel": ("转化漏斗", "Conversion funnel"),
    "metric.consult_rate": ("问诊率", "Consult rate"),
    "metric.booking_rate": ("预约率", "Booking rate"),
    "metric.paid_conversion": ("付费转化率", "Paid conversion"),
    "metric.arpu": ("客单价(ARPU)", "ARPU"),
    "metric.cohort_retention": ("同期群留存", "Cohort retention"),
    "metric.d1_retention": ("次日留存", "D1 retention"),
    "metric.d7_retention": ("7日留存", "D7 retention"),
    "metric.d30_retention": ("30日留存", "D30 retention"),
    "metric.mau": ("月活(MAU)", "MAU"),
    "metric.monthly_active_days": ("月活跃天数(人均)", "Active days per monthly active user"),
    "metric.repurchase_rate": ("复购率", "Repurchase rate"),
    "metric.silent_recall_rate": ("沉默用户召回率", "Silent-user recall rate"),
    "metric.share_rate": ("分享率", "Share rate"),
    "metric.invites_per_user": ("人均邀请数", "Invites per user"),
    "metric.invite_conversion": ("邀请转化率", "Invite conversion"),
    "metric.k_factor": ("裂变系数(K因子)", "K-factor"),
    "metric.ltv": ("历史LTV", "Historical LTV"),
    "metric.roi": ("投资回报率(ROI)", "ROI"),
    "metric.nps": ("净推荐值(NPS)", "NPS"),
    "metric.satisfaction": ("满意度", "Satisfaction"),
    "metric.complaint_rate": ("投诉率", "Complaint rate"),
    "metric.first_reply_sla_rate": ("首次回复达标率", "First reply within SLA"),
    "metric.first_reply_mean_s": ("平均首次回复时长", "Mean first-reply time"),
    "metric.adherence_rate": ("用药依从性", "Medication adherence"),
    "metric.pdc_mean": ("平均用药覆盖率(PDC)", "Mean PDC"),
    "metric.bp_control_rate": ("血压控制率", "BP control rate"),
    "metric.glucose_control_rate": ("血糖控制率", "Glucose control rate"),
    "metric.package_activation_rate": ("服务包激活率", "Package activation"),
    "metric.renewal_rate": ("续费率", "Renewal rate"),
    # acquisition channels (patients.source_channel, marketing_spend.channel)
    "channel.douyin": ("抖音", "Douyin"),
    "channel.baidu_search": ("百度搜索", "Baidu search"),
    "channel.wechat_ads": ("微信广告", "WeChat ads"),
    "channel.wechat_ad": ("微信广告", "WeChat ads"),
    "channel.wechat": ("微信", "WeChat"),
    "channel.hospital_offline": ("线下医院", "Hospital (offline)"),
    "channel.organic": ("自然流量", "Organic"),
    "channel.referral": ("邀请裂变", "Referral"),
    "channel.app_store": ("应用商店", "App store"),
    "channel.xiaohongshu": ("小红书", "Xiaohongshu"),
    "channel.kuaishou": ("快手", "Kuaishou"),
    "channel.alipay": ("支付宝", "Alipay"),
    "channel.other": ("其他", "Other"),
    # message channels (consents.channel, journeys)
    "contact_channel.sms": ("短信", "SMS"),
    "contact_channel.wechat": ("微信", "WeChat"),
    "contact_channel.app_push": ("App推送", "App push"),
    "contact_channel.email": ("邮件", "Email"),
    "contact_channel.phone": ("电话", "Phone"),
    "contact_channel.all": ("全部渠道", "All channels"),
    # coded values of the canonical tables (consultations.mode, orders.category / status)
    "mode.text": ("图文问诊", "Text consultation"),
    "mode.video": ("视频问诊", "Video consultation"),
    "mode.phone": ("电话问诊", "Phone consultation"),
    "mode.offline": ("线下就诊", "Offline visit"),
    "order_category.consultation": ("问诊", "Consultation"),
    "order_category.drug": ("药品", "Drug"),
    "order_category.checkup": ("体检", "Check-up"),
    "order_category.package": ("服务包", "Service package"),
    "order_category.device": ("设备", "Device"),
    "order_category.other": ("其他", "Other"),
    "order_status.paid": ("已支付", "paid"),
    "order_status.refunded": ("已退款", "refunded"),
    "order_status.failed": ("支付失败", "failed"),
    "order_status.cancelled": ("已取消", "cancelled"),
    # words of every shell
    "word.yes": ("是", "yes"),
    "word.no": ("否", "no"),
    "word.unknown": ("未知", "unknown"),
    "word.group": ("分组", "group"),
    "word.value": ("值", "value"),
    "word.all_history": ("累计", "all history"),
    "word.last_days": ("近{days}天", "last {days} days"),
    "word.days": ("天", "days"),
    "word.seconds": ("秒", "s"),
    "word.error": ("错误", "error"),
    "word.event": ("事件 {name}", "event {name}"),
    # k-means clusters (careops cluster)
    "cluster.title": ("聚类结果", "Clusters"),
    "cluster.cluster": ("群", "cluster"),
    "cluster.name": ("建议名称", "proposed name"),
    "cluster.size": ("人数", "patients"),
    "cluster.share": ("占比", "share"),
    "cluster.traits": ("特征", "traits"),
    "cluster.layers": ("突出的分层", "over-represented layers"),
    "cluster.plain": ("普通人群", "Typical patients"),
    "cluster.group": ("人群", "patients"),
    # careops demo
    "demo.refuse_foreign": (
        "{folder} 不是空目录, 也不是 CareOps 创建的演示目录: 不会删除它; 换一个新目录 --dir",
        "{folder} is not empty and not a demo folder made by CareOps: it is not deleted; "
        "pass a new folder with --dir",
    ),
    "demo.refuse_used": (
        "{folder} 中的演示仓库在演示之后又被使用过 ({what}): 不会覆盖; 加 --yes 重新生成"
        "(删除这些内容), 或换一个目录 --dir",
        "the demo warehouse in {folder} was used after the demo ({what}): it is not "
        "overwritten; pass --yes to start over (this deletes that work), or another --dir",
    ),
    "demo.used_loads": ("{n} 次导入", "{n} later load(s)"),
    "demo.used_audit": ("{n} 条审计记录", "{n} audit entr(ies)"),
    "demo.used_snapshots": ("{n} 个标签快照", "{n} tag snapshot(s)"),
    "demo.used_experiments": ("{n} 个实验", "{n} experiment(s)"),
    "demo.simulate": (
        "1/4 模拟 {users} 名患者 × {days} 天",
        "1/4 simulate {users} patients × {days} days",
    ),
    "demo.ingest": ("2/4 导入仓库", "2/4 ingest into the warehouse"),
    "demo.tags": ("3/4 标签与分层", "3/4 tags and layers"),
    "demo.summary": ("4/4 概况", "4/4 summary"),
    "demo.tagged": ("已计算 {n} 位患者的标签", "tags computed for {n} patients"),
    "demo.layers_title": ("用户分层", "Layers"),
    "demo.computing": ("正在计算标签 …", "computing tags …"),
    "demo.warehouse": ("仓库", "warehouse"),
    "demo.use_it": ("让后续命令使用演示仓库", "make the next commands use it"),
    "demo.try": ("试试", "try"),
    "demo.cockpit": ("打开驾驶舱", "open the cockpit"),
    "demo.login": ("登录(仅此演示)", "log in (this demo only)"),
    # simulator summary (careops simulate, careops demo)
    "sim.personas": ("患者画像", "Personas"),
    "sim.persona": ("画像", "persona"),
    "sim.patients": ("患者数", "patients"),
    "sim.volumes": (
        "事件 {events} · 订单 {orders} · 收入 ¥{revenue}",
        "events {events} · orders {orders} · revenue ¥{revenue}",
    ),
    "sim.calibration": ("校准", "Calibration"),
    "sim.metric": ("指标", "metric"),
    "sim.value": ("值", "value"),
    "sim.target": ("目标", "target"),
    "sim.ok": ("达标", "ok"),
    "sim.progress": ("模拟患者", "simulating"),
    # the cockpit's own words: navigation, buttons, headings (was careops.web.texts)
    "page.app": ("CareOps 运营驾驶舱", "CareOps cockpit"),
    "page.skip": ("跳到正文", "Skip to content"),
    "page.nav": ("主导航", "Main navigation"),
    "page.nav.overview": ("总览", "Overview"),
    "page.nav.layers": ("用户分层", "Layers"),
    "page.nav.portrait": ("用户画像", "Patient portrait"),
    "page.nav.tasks": ("任务", "Tasks"),
    "page.nav.experiments": ("实验", "Experiments"),
    "page.nav.segments": ("人群圈选", "Segments"),
    "page.nav.audit": ("审计", "Audit"),
    "page.nav.journeys": ("旅程", "Journeys"),
    "page.nav.triage": ("导诊", "Triage"),
    "page.nav.funnels": ("漏斗与留存", "Funnels & retention"),
    "page.lang.switch": ("English", "中文"),
    "page.login.title": ("登录", "Log in"),
    "page.login.username": ("用户名", "Username"),
    "page.login.password": ("密码", "Password"),
    "page.login.submit": ("登录", "Log in"),
    "page.login.failed": (
        "用户名或密码错误, 或账号已锁定",
        "Wrong username or password, or locked",
    ),
    "page.login.throttled": (
        "此地址登录失败次数过多, 请几分钟后再试",
        "Too many failed logins from this address; try again in a few minutes",
    ),
    "page.login.expired": ("请重新登录", "Please log in again"),
    "page.logout": ("退出", "Log out"),
    "page.as_of": ("统计日", "As of"),
    "page.as_of.note": ("(该日 0 点前的数据)", "(facts before 00:00 of that day)"),
    "page.apply": ("查看", "Show"),
    "page.change": ("环比", "vs previous period"),
    "page.change.prev": ("上期", "previous"),
    "page.overview.title": ("运营总览", "Operations overview"),
    "page.overview.note": (
        "环比: 与上一个同长度统计窗口相比(比率为百分点差)",
        "Change: against the previous window of the same length (rates in percentage points)",
    ),
    "page.layers.title": ("用户分层", "Patient layers"),
    "page.layers.users": ("人数", "Patients"),
    "page.layers.share": ("占比", "Share"),
    "page.layers.layer": ("分层", "Layer"),
    "page.layers.groups": ("特殊人群", "Special groups"),
    "page.layers.stale": (
        "该日快照已过期, 为实时计算结果",
        "The stored snapshot of that day is stale; computed live",
    ),
    "page.migration.title": ("分层迁移矩阵", "Layer migration"),
    "page.migration.start": ("起始日", "From"),
    "page.migration.end": ("结束日", "To"),
    "page.migration.dimension": ("维度", "Dimension"),
    "page.migration.from_to": ("起始 \\ 结束", "from \\ to"),
    "page.drill.title": ("分层患者", "Patients in a layer"),
    "page.drill.note": (
        "联系方式均已脱敏; 每次查看均记入审计日志",
        "Contacts are masked; every view is recorded in the audit trail",
    ),
    "page.drill.total": ("共 {n} 人", "{n} patients"),
    "page.drill.back": ("返回分层", "Back to layers"),
    "page.drill.export": ("导出名单 (CSV)", "Export the list (CSV)"),
    "page.prev": ("上一页", "Previous"),
    "page.next": ("下一页", "Next"),
    "page.page": ("第 {a}–{b} 条, 共 {n} 条", "{a}–{b} of {n}"),
    "page.patient": ("患者", "Patient"),
    "page.name": ("姓名", "Name"),
    "page.phone": ("手机", "Mobile"),
    "page.summary": ("画像摘要", "Summary"),
    "page.portrait.title": ("用户画像", "Patient portrait"),
    "page.portrait.find": ("患者 ID", "Patient ID"),
    "page.portrait.open": ("查看画像", "Open portrait"),
    "page.portrait.layers": ("分层", "Layers"),
    "page.portrait.groups": ("所属人群", "Groups"),
    "page.portrait.tags": ("标签", "Tags"),
    "page.portrait.tag": ("标签", "Tag"),
    "page.portrait.value": ("取值", "Value"),
    "page.portrait.meaning": ("含义", "Meaning"),
    "page.portrait.contacts": ("联系方式(脱敏)", "Contacts (masked)"),
    "page.portrait.no_contacts": ("无联系方式记录", "No contacts stored"),
    "page.portrait.clinical": ("临床记录", "Clinical records"),
    "page.portrait.no_records": ("无记录", "No records"),
    "page.portrait.none": ("无", "none"),
    "page.audit.title": ("审计日志", "Audit trail"),
    "page.audit.at": ("时间 (UTC)", "Time (UTC)"),
    "page.audit.actor": ("操作者", "Actor"),
    "page.audit.role": ("角色", "Role"),
    "page.audit.action": ("动作", "Action"),
    "page.audit.target": ("对象", "Target"),
    "page.audit.subject": ("患者", "Patient"),
    "page.audit.source": ("来源", "From"),
    "page.audit.filter": ("筛选", "Filter"),
    "page.audit.verify": ("校验哈希链", "Verify the hash chain"),
    "page.audit.chain_ok": ("哈希链完整: {n} 条", "Hash chain intact: {n} entries"),
    "page.audit.chain_broken": (
        "哈希链断裂于第 {id} 条: {reason}",
        "Chain broken at #{id}: {reason}",
    ),
    "page.tasks.title": ("待办任务", "Task queue"),
    "page.tasks.note": (
        "超时任务和一小时内到期的医疗提醒排在最前; 时间为医院时间",
        "Overdue tasks and medical alerts due within the hour come first; hospital time",
    ),
    "page.tasks.filter": ("状态", "Status"),
    "page.tasks.status.open": ("待办", "Open"),
    "page.tasks.status.done": ("已关闭", "Closed"),
    "page.tasks.status.all": ("全部", "All"),
    "page.tasks.task": ("任务", "Task"),
    "page.tasks.purpose": ("类别", "Purpose"),
    "page.tasks.assignee": ("负责人", "Assignee"),
    "page.tasks.due": ("截止时间", "Due"),
    "page.tasks.state": ("状态", "Status"),
    "page.tasks.outcome": ("处理结果", "Outcome"),
    "page.tasks.note_label": ("处理说明", "Note"),
    "page.tasks.done": ("完成", "Done"),
    "page.tasks.cancel": ("取消", "Cancel"),
    "page.tasks.empty": ("没有任务", "No tasks"),
    "page.tasks.capped": (
        "任务过多, 仅对前 {n} 条按紧急程度排序",
        "Too many tasks: only the first {n} are sorted by urgency",
    ),
    "page.tasks.closed": ("任务 {id} 已关闭", "Task {id} closed"),
    "page.tasks.urgency.overdue": ("已超时", "Overdue"),
    "page.tasks.urgency.alert": ("1 小时内到期的医疗提醒", "Medical alert due within the hour"),
    "page.tasks.urgency.soon": ("1 小时内到期", "Due within the hour"),
    "page.tasks.urgency.normal": ("", ""),
    "page.tasks.urgency.closed": ("", ""),
    "page.experiments.title": ("A/B 实验", "A/B experiments"),
    "page.experiments.new": ("新建实验", "New experiment"),
    "page.experiments.created": ("实验已创建", "Experiment created"),
    "page.experiments.new_note": (
        "在已保存的人群上做 A/B 实验: 一个对照组和一个实验组; 更复杂的设计请用命令行或 API",
        "An A/B test on a saved segment: one control and one treatment; richer designs through "
        "the CLI or the API",
    ),
    "page.experiments.key": ("实验标识", "Key"),
    "page.experiments.segment": ("人群", "Segment"),
    "page.experiments.segment_pick": ("请选择", "Choose"),
    "page.experiments.no_segment": (
        "还没有保存的人群: 先在「人群圈选」保存一个",
        "No saved segment yet: save one on the segments page first",
    ),
    "page.experiments.control": ("对照组名", "Control name"),
    "page.experiments.treatment": ("实验组名", "Treatment name"),
    "page.experiments.share": ("实验组占比 (%)", "Treatment share (%)"),
    "page.experiments.start": ("开始日", "Start"),
    "page.experiments.end": ("结束日", "End"),
    "page.experiments.primary": ("主要指标", "Primary metrics"),
    "page.experiments.guardrail": ("护栏指标", "Guardrail metrics"),
    "page.experiments.create": ("创建实验", "Create the experiment"),
    "page.experiments.empty": ("还没有实验", "No experiment yet"),
    "page.experiments.name": ("名称", "Name"),
    "page.experiments.results": ("实验结果", "Results"),
    "page.experiments.decision": ("结论", "Decision"),
    "page.experiments.exposed": ("曝光用户", "Exposed users"),
    "page.experiments.stop": ("停止实验", "Stop the experiment"),
    "page.experiments.stopped": ("实验已停止", "Experiment stopped"),
    "page.experiments.stop_note": (
        "停止后结束时间设为现在, 不再曝光新用户; 记入审计日志",
        "Stopping sets its end to now; nobody new is exposed; recorded in the audit trail",
    ),
    "page.experiments.estimate": ("绝对提升", "Absolute lift"),
    "page.experiments.interval": ("{level} 置信区间", "{level} confidence interval"),
    "page.experiments.chart": ("各组相对对照组的效应及置信区间", "Effect over control, with CI"),
    "page.experiments.no_analysis": ("暂无结果: {reason}", "No results yet: {reason}"),
    "page.experiments.back": ("返回实验列表", "Back to the experiments"),
    "page.experiments.note": (
        "区间为置信区间; 有多个指标或组别时按校正后 p 值判断显著",
        "Intervals are confidence intervals; with several metrics or variants, significance "
        "uses the adjusted p-value",
    ),
    "page.segments.title": ("人群圈选", "Build a segment"),
    "page.segments.rule": ("圈选规则", "Rule"),
    "page.segments.rule_help": (
        '例: lifecycle == "silent" and age >= 60 and searched("失眠", within="30d")',
        'e.g. lifecycle == "silent" and age >= 60 and searched("失眠", within="30d")',
    ),
    "page.segments.count": ("计数", "Count"),
    "page.segments.editor": ("可视化编辑: 把条件加入规则", "Visual editor: add a condition"),
    "page.segments.tag": ("标签", "Tag"),
    "page.segments.op": ("比较", "Operator"),
    "page.segments.value": ("取值", "Value"),
    "page.segments.join": ("连接", "Join with"),
    "page.segments.add": ("加入条件", "Add the condition"),
    "page.segments.live": ("输入时自动计数", "Counted as you type"),
    "page.segments.total": ("命中 {n} 人", "{n} patients match"),
    "page.segments.read_back": ("规则解析为", "Read as"),
    "page.segments.sample": ("样本患者(脱敏)", "Sample patients (masked)"),
    "page.segments.withheld": (
        "分析角色只看计数, 不显示患者 ID",
        "Analysts see counts, not patient ids",
    ),
    "page.segments.save": ("保存为人群", "Save as a segment"),
    "page.segments.name": ("人群名", "Name"),
    "page.segments.description": ("说明", "Description"),
    "page.segments.saved": ("已保存人群", "Saved segments"),
    "page.segments.saved_ok": (
        "已保存: {name} (版本 {version})",
        "Saved: {name} (version {version})",
    ),
    "page.segments.version": ("版本", "Version"),
    "page.segments.saved_at": ("保存时间", "Saved at"),
    "page.segments.saved_by": ("保存人", "Saved by"),
    "page.segments.open": ("打开", "Open"),
    "page.segments.none": ("还没有保存的人群", "No saved segment yet"),
    "page.segments.export": ("导出名单 (CSV)", "Export the list (CSV)"),
    "page.segments.experiment": ("用此人群建实验", "Start an experiment on it"),
    "page.segments.actions": ("操作", "Actions"),
    "page.segments.error": ("规则有误", "The rule is not valid"),
    "page.journeys.title": ("用户旅程", "Journeys"),
    "page.journeys.note": (
        "本院旅程默认启用, 模板默认停用; 启用后由实时任务推进",
        "The hospital's journeys run unless switched off; templates only once enabled",
    ),
    "page.journeys.key": ("标识", "Key"),
    "page.journeys.name": ("名称", "Name"),
    "page.journeys.origin": ("来源", "Origin"),
    "page.journeys.trigger": ("触发", "Trigger"),
    "page.journeys.steps": ("步骤数", "Steps"),
    "page.journeys.state": ("状态", "Status"),
    "page.journeys.on": ("已启用", "Enabled"),
    "page.journeys.off": ("已停用", "Disabled"),
    "page.journeys.invalid": ("定义无效", "Invalid definition"),
    "page.journeys.warnings": ("{n} 条合规提示", "{n} compliance warnings"),
    "page.journeys.empty": ("没有旅程", "No journey"),
    "page.journeys.version": ("版本", "version"),
    "page.journeys.changed": ("最近切换", "Last switched"),
    "page.journeys.note_label": ("备注", "Note"),
    "page.journeys.enable": ("启用旅程", "Enable the journey"),
    "page.journeys.disable": ("停用旅程", "Disable the journey"),
    "page.journeys.switch_note": (
        "停用后在途患者暂停推进, 重新启用后继续; 记入审计日志",
        "Disabled: enrolled patients pause until it is enabled again; recorded in the audit trail",
    ),
    "page.journeys.switched_on": ("旅程已启用", "Journey enabled"),
    "page.journeys.switched_off": ("旅程已停用", "Journey disabled"),
    "page.journeys.back": ("返回旅程列表", "Back to the journeys"),
    "page.journeys.flow": ("流程", "Flow"),
    "page.journeys.exit": ("结束", "exit"),
    "page.journeys.stats": (
        "各步骤效果 (归因窗口 {n} 天)",
        "Per step (attribution window {n} days)",
    ),
    "page.journeys.entered": ("进入人数", "Entered"),
    "page.journeys.exited": ("退出", "Exited"),
    "page.journeys.step": ("步骤", "Step"),
    "page.journeys.no_stats": ("尚无运行数据", "No run recorded yet"),
    "page.journeys.count.reached": ("到达", "Reached"),
    "page.journeys.count.sent": ("发送", "Sent"),
    "page.journeys.count.delivered": ("送达", "Delivered"),
    "page.journeys.count.suppressed": ("被抑制", "Suppressed"),
    "page.journeys.count.opened": ("打开", "Opened"),
    "page.journeys.count.clicked": ("点击", "Clicked"),
    "page.journeys.count.converted": ("转化", "Converted"),
    "page.journeys.count.revenue": ("收入", "Revenue"),
    "page.triage.title": ("智能导诊", "Triage"),
    "page.triage.text": ("患者主诉", "The patient's complaint"),
    "page.triage.submit": ("导诊", "Triage"),
    "page.triage.note": (
        "主诉不保存、不记录; 审计只记谁查询及结果科室",
        "The text is neither stored nor logged; the audit records who asked and the outcome",
    ),
    "page.triage.emergency": ("紧急情况", "Emergency"),
    "page.triage.words": ("判定依据", "Decided by"),
    "page.triage.departments": ("推荐科室", "Departments"),
    "page.triage.department": ("科室", "Department"),
    "page.triage.score": ("得分", "Score"),
    "page.triage.negated": ("已否定的症状", "Denied symptoms"),
    "page.triage.unrecognised": (
        "未识别到医学词汇, 建议补充症状或转人工",
        "No medical words recognised; ask for symptoms or hand over to staff",
    ),
    "page.triage.paediatric": ("儿童患者", "A child patient"),
    "page.triage.doctors": ("推荐医生", "Doctors"),
    "page.triage.doctor": ("医生", "Doctor"),
    "page.triage.doctor_title": ("职称", "Title"),
    "page.triage.specialties": ("擅长", "Specialties"),
    "page.triage.rating": ("评分", "Rating"),
    "page.triage.no_doctors": ("没有匹配的医生", "No matching doctor"),
    "page.error.title": ("出错了", "Something went wrong"),
    "page.error.403": ("无权访问此页面", "You are not allowed to see this page"),
    "page.error.404": ("未找到", "Not found"),
    "page.error.422": ("输入不合法", "The input is not valid"),
    "page.error.500": ("服务内部错误, 请稍后再试", "Internal error; please try again later"),
    "page.error.503": ("服务暂不可用, 请稍后再试", "The service is busy; please try again shortly"),
    "page.error.home": ("返回首页", "Back to the start page"),
    "page.chart.layers": ("各分层人数", "Patients per layer"),
    "page.none": ("—", "—"),
    "page.portrait.scores": ("模型评分与推荐", "Model scores and recommendations"),
    "page.portrait.band.high": ("高风险", "high risk"),
    "page.portrait.band.mid": ("中风险", "medium risk"),
    "page.portrait.band.low": ("低风险", "low risk"),
    "page.portrait.band.none": ("未评分", "not scored"),
    "page.portrait.not_scored": ("未评分", "not scored"),
    "page.portrait.model": ("流失模型", "Churn model"),
    "page.portrait.model_trained": (
        "训练数据截至 {as_of}, 训练于 {at}",
        "trained on data to {as_of}, at {at}",
    ),
    "page.portrait.reasons": ("主要流失原因", "Top churn reasons"),
    "page.portrait.no_reasons": ("没有推高风险的因素", "Nothing raises the risk"),
    "page.portrait.no_scores": (
        "尚无模型评分: 流失评分存储并计算当日标签后显示",
        "No model score yet: shown once churn scores are stored and the day's tags computed",
    ),
    "page.portrait.recommendations": ("推荐服务", "Recommended services"),
    "page.portrait.loading": ("加载中…", "Loading…"),
    "page.portrait.no_model": (
        "尚无推荐模型: 运行 careops recommend train 后显示",
        "No recommendation model yet: shown after `careops recommend train`",
    ),
    "page.portrait.rec_model": ("推荐模型", "Recommendation model"),
    "page.portrait.rec_item": ("服务", "Item"),
    "page.portrait.rec_kind": ("类型", "Kind"),
    "page.portrait.rec_department": ("科室", "Department"),
    "page.portrait.rec_reason": ("推荐理由", "Why"),
    "page.funnels.title": ("漏斗与留存", "Funnels and retention"),
    "page.funnels.funnel": ("转化漏斗", "Conversion funnel"),
    "page.funnels.steps": ("步骤(按顺序)", "Steps (in order)"),
    "page.funnels.step_n": ("第 {n} 步", "Step {n}"),
    "page.funnels.step_none": ("(不用)", "(unused)"),
    "page.funnels.period": ("进入窗口(天)", "Entry window (days)"),
    "page.funnels.conversion": ("转化窗口(天)", "Conversion window (days)"),
    "page.funnels.by": ("分组", "Break down by"),
    "page.funnels.by_none": ("不分组", "No breakdown"),
    "page.funnels.grain": ("同期群粒度", "Cohort grain"),
    "page.funnels.grain.week": ("按周", "Weekly"),
    "page.funnels.grain.month": ("按月", "Monthly"),
    "page.funnels.unit.week": ("周", "week"),
    "page.funnels.unit.month": ("月", "month"),
    "page.funnels.cohort_days": ("同期群回看(天)", "Cohorts over (days)"),
    "page.funnels.note": (
        "进入: 统计日前 {conv} 天之前的 {period} 天内首次完成第 1 步的用户; "
        "之后 {conv} 天内按顺序完成各步",
        "Entry: first step 1 in the {period} days ending {conv} days before the as-of date; "
        "later steps in order within {conv} days",
    ),
    "page.funnels.everyone": ("全部用户", "Everyone"),
    "page.funnels.step": ("步骤", "Step"),
    "page.funnels.users": ("人数", "Users"),
    "page.funnels.from_previous": ("较上一步", "From previous"),
    "page.funnels.from_first": ("较第 1 步", "From step 1"),
    "page.funnels.dropped": ("流失人数", "Dropped"),
    "page.funnels.worst": ("流失最多", "Largest drop"),
    "page.funnels.retention": ("同期群留存", "Cohort retention"),
    "page.funnels.retention_note": (
        "按注册所在{grain}分组; Dn 留存: 注册后第 n 天活跃的比例, 只计第 n 天已结束的成员",
        "Patients grouped by registration {grain}; Dn: share active on day n after registering, "
        "counting members whose day n is over",
    ),
    "page.funnels.cohort": ("同期群", "Cohort"),
    "page.funnels.size": ("人数", "Size"),
    "page.funnels.group": ("分组", "Group"),
    "page.funnels.csv_funnel": ("下载漏斗 (CSV)", "Download funnel (CSV)"),
    "page.funnels.csv_cohort": ("下载留存表 (CSV)", "Download retention (CSV)"),
    "page.funnels.no_cohorts": ("窗口内没有注册用户", "No patient registered in the window"),
    "page.chart.funnel": ("转化漏斗图", "Funnel chart"),
    "page.chart.retention": ("同期群留存热力图", "Cohort retention heatmap"),
    # the recommendation report (was careops.models.recommend.report.TEXT)
    "recommend.title": ("个性化推荐报告", "Recommendation report"),
    "recommend.as_of": ("截至", "As of"),
    "recommend.model": ("模型", "Model"),
    "recommend.coverage": ("覆盖", "Coverage"),
    "recommend.sample": ("抽样患者", "Patients sampled"),
    "recommend.with_history": ("按历史推荐 (模型)", "Ranked from history (model)"),
    "recommend.fallback": (
        "无历史, 按人群热门与病情",
        "No history: segment popularity and conditions",
    ),
    "recommend.full": ("满 {n} 条推荐的患者", "Patients with all {n} recommendations"),
    "recommend.items_used": (
        "被推荐过的项目 / 全部可推荐项目",
        "Items recommended at least once / recommendable",
    ),
    "recommend.by_kind": ("各类型被推荐过的项目", "Items recommended at least once, by kind"),
    "recommend.quality": ("推荐质量 (NDCG@{k}) 与热门对比", "Quality (NDCG@{k}) beside popularity"),
    "recommend.source_test": (
        "测试窗 {a} → {b} (训练日之后, 未用于任何选择)",
        "Test window {a} → {b} (after the training date, used for no choice)",
    ),
    "recommend.source_holdout": (
        "验证窗 {a} → {b} (训练日之前; 混合权重在此选定, 偏乐观)",
        "Validation window {a} → {b} (before the training date; the blend "
        "weights were chosen on it, so it is optimistic)",
    ),
    "recommend.no_quality": ("没有可用的评估", "No evaluation available"),
    "recommend.kind": ("类型", "Kind"),
    "recommend.patients": ("患者", "Patients"),
    "recommend.model_col": ("模型", "Model"),
    "recommend.popularity": ("热门", "Popularity"),
    "recommend.ratio": ("倍数", "Ratio"),
    "recommend.all": ("全部", "All"),
    "recommend.new_patients": ("新患者 (按年龄性别)", "New patients (age and sex)"),
    "recommend.blocked": ("医疗规则拦截", "Blocked by the medical rules"),
    "recommend.blocked_note": (
        "不加规则时会进入前 {k} 的项目, 被规则拦下的次数 (抽样患者)",
        "Items that would be in the top {k} without the rules, blocked (sampled patients)",
    ),
    "recommend.rule": ("规则", "Rule"),
    "recommend.why": ("原因", "Why"),
    "recommend.blocked_patients": ("受影响患者", "Patients affected"),
    "recommend.blocked_items": ("拦截次数", "Items blocked"),
    "recommend.examples": ("示例 (编号已脱敏)", "Examples (ids masked)"),
    "recommend.patient": ("患者", "Patient"),
    "recommend.source": ("来源", "Source"),
    "recommend.rank": ("名次", "Rank"),
    "recommend.name": ("名称", "Name"),
    "recommend.reason": ("理由", "Reason"),
    "recommend.model_src": ("模型", "model"),
    "recommend.fallback_src": ("热门与规则", "popularity and rules"),
    "recommend.notes": ("说明", "Notes"),
    "recommend.kind.service": ("服务", "services"),
    "recommend.kind.package": ("服务包", "packages"),
    "recommend.kind.content": ("内容", "content"),
    "recommend.kind.doctor": ("医生", "doctors"),
    # why a comparison could not be made (was experiments.stats.results.ERROR_MESSAGES)
    "experiment.error.empty_arm": (
        "该组没有用户，无法比较",
        "an arm has no users; nothing to compare",
    ),
    "experiment.error.too_few_users": (
        "该组用户少于 2 人，无法估计方差",
        "an arm has fewer than 2 users; its variance cannot be estimated",
    ),
    "experiment.error.zero_variance": (
        "两组指标值全部相同（方差为零），无法检验",
        "every user has the same metric value (zero variance); no test is possible",
    ),
    "experiment.error.no_units": (
        "该组比率指标的分母为零（如没有问卷回答），无法计算",
        "the ratio's denominator is 0 in an arm (e.g. no answers); nothing to compare",
    ),
    # what exposing a user did (was experiments.cli._OUTCOME)
    "experiment.outcome.exposed": ("已曝光", "exposed"),
    "experiment.outcome.already_exposed": ("此前已曝光", "already exposed"),
    "experiment.outcome.global_control": ("全局对照组，不曝光", "global control, not exposed"),
    "experiment.outcome.not_targeted": ("不在目标人群，不曝光", "not in the segment, not exposed"),
    # permissions: what each lets its holder do (was identity.roles.PERMISSIONS)
    "permission.tags.read": (
        "查看标签与分层(汇总)",
        "read tag definitions, layer counts and migration",
    ),
    "permission.tags.compute": ("计算标签快照", "compute and store tag snapshots"),
    "permission.segments.read": ("人群计数与抽样", "count and sample segments"),
    "permission.segments.write": ("保存/删除人群", "save and delete segments"),
    "permission.segments.export": ("导出人群名单", "export a segment's patient list"),
    "permission.metrics.read": ("查看指标与报告", "read metrics and the report"),
    "permission.experiments.read": ("查看实验", "list and analyse experiments"),
    "permission.experiments.write": ("创建/管理实验", "create, stop and expose experiments"),
    "permission.journeys.read": ("查看旅程", "list journeys and their stats"),
    "permission.journeys.write": ("管理旅程", "validate, enable and disable journeys"),
    "permission.models.read": ("查看模型评分", "read model scores"),
    "permission.triage.run": ("智能分诊", "run triage"),
    "permission.dose.check": ("儿童剂量核对", "check a paediatric order against the dosage limits"),
    "permission.tasks.read": ("查看待办任务", "read the tasks that are one's work"),
    "permission.tasks.work": ("处理待办任务", "close one's tasks with an outcome"),
    "permission.patients.portrait": (
        "患者画像(脱敏)",
        "a patient's portrait: tags, layers, masked contacts",
    ),
    "permission.patients.clinical": (
        "患者临床记录",
        "a patient's clinical records (object-level checks)",
    ),
    "permission.patients.contacts": (
        "患者联系方式明文",
        "unmasked contact details (channel senders only)",
    ),
    "permission.consents.write": ("记录同意/撤回", "record consent grants and withdrawals"),
    "permission.events.write": ("上报行为事件", "send behaviour events"),
    "permission.ingest.write": ("导入数据文件", "import data files"),
    "permission.data.deidentified": ("去标识化数据", "de-identified exports and analyst SQL"),
    "permission.audit.read": ("查看审计日志", "read and verify the audit trail"),
    "permission.users.manage": ("管理账号与密钥", "manage staff accounts and API keys"),
    "permission.privacy.erase": ("删除患者数据", "erase a patient (PIPL)"),
    "permission.care.read": (
        "查看服务包目录与预警规则",
        "read the service-package catalogue and the abnormal-reading rules",
    ),
    "permission.growth.read": ("查看积分与邀请", "read points, levels, coupons and referrals"),
    "permission.growth.write": (
        "积分发放/兑换与邀请奖励",
        "earn and redeem points, referral codes and rewards",
    ),
    # roles (was identity.roles.ROLE_NAMES)
    "role.admin": ("管理员", "administrator"),
    "role.operations": ("运营", "operations"),
    "role.medical": ("医生/医助", "doctor / medical assistant"),
    "role.health_manager": ("健康管理师", "health manager"),
    "role.analyst": ("数据分析师", "analyst"),
    "role.auditor": ("审计员", "auditor"),
    # record kinds and contact fields on the patient page (was web.views)
    "page.kind.consultations": ("问诊", "Consultations"),
    "page.kind.observations": ("检测读数", "Readings"),
    "page.kind.conditions": ("诊断", "Conditions"),
    "page.kind.prescriptions": ("处方", "Prescriptions"),
    "page.kind.encounters": ("就诊", "Encounters"),
    "page.contact.name": ("姓名", "Name"),
    "page.contact.phone": ("手机", "Mobile"),
    "page.contact.email": ("邮箱", "E-mail"),
    "page.contact.wechat_openid": ("微信", "WeChat"),
    "page.contact.id_number": ("身份证号", "ID number"),
    # codes shown on the task and journey pages (were tables in web.views)
    "page.tasks.state.open": ("待办", "Open"),
    "page.tasks.state.done": ("已完成", "Done"),
    "page.tasks.state.cancelled": ("已取消", "Cancelled"),
    "page.tasks.purpose.medical": ("医疗", "Medical"),
    "page.tasks.purpose.service": ("服务", "Service"),
    "page.tasks.purpose.marketing": ("营销", "Marketing"),
    "page.journeys.origin.template": ("模板", "Template"),
    "page.journeys.origin.hospital": ("本院", "Hospital"),
    "page.journeys.trigger.event": ("事件触发", "On an event"),
    "page.journeys.trigger.segment_entry": ("进入人群", "On entering a segment"),
    "page.journeys.trigger.segment_exit": ("离开人群", "On leaving a segment"),
    "page.journeys.trigger.layer_entry": ("进入分层", "On entering a layer"),
    "page.journeys.trigger.layer_exit": ("离开分层", "On leaving a layer"),
    "page.journeys.trigger.date": ("按日期", "On a date"),
    "page.journeys.trigger.schedule": ("定时", "On a schedule"),
    "page.journeys.step_type.wait": ("等待", "Wait"),
    "page.journeys.step_type.branch": ("分支", "Branch"),
    "page.journeys.step_type.split": ("分流", "Split"),
    "page.journeys.step_type.message": ("消息", "Message"),
    "page.journeys.step_type.coupon": ("优惠券", "Coupon"),
    "page.journeys.step_type.points": ("积分", "Points"),
    "page.journeys.step_type.task": ("任务", "Task"),
    "page.journeys.step_type.webhook": ("Webhook", "Webhook"),
    # the simulator's calibration checks (was sim.calibration.LABELS)
    "sim.check.retention_d30": (
        "次月留存率(注册后第30–59天内有活跃)",
        "second-month retention (active on any of days 30–59 after sign-up)",
    ),
    "sim.check.monthly_active_days": (
        "全体注册用户每30天活跃天数",
        "active days per 30 days signed up (all patients)",
    ),
    "sim.check.consult_to_visit": (
        "问诊→线下就诊转化率(30天内)",
        "consult → offline visit within 30 days",
    ),
    "sim.check.online_consult_price": ("在线问诊均价(元)", "mean online consultation price (¥)"),
    "sim.check.paid_cac_min": ("付费渠道最低获客成本(元)", "lowest CAC of paid channels (¥)"),
    "sim.check.package_renewal": ("服务包续费率", "package renewal rate"),
}

#: Chinese descriptions of tags and metrics (the English ones stay beside each definition)
DESCRIPTIONS_ZH: dict[str, str] = {
    # tags
    "tag.last_consult_at": "统计日之前最近一次问诊的开始时间(UTC)",
    "tag.consults_30d": "统计日之前 30 天内的问诊次数",
    "tag.consults_90d": "统计日之前 90 天内的问诊次数",
    "tag.orders_30d": "统计日之前 30 天内的已支付订单数",
    "tag.orders_90d": "统计日之前 90 天内的已支付订单数",
    "tag.search_keywords": "近 tags.keyword_days 天搜索词中最常见的 jieba 分词, 逗号分隔",
    "tag.usual_active_hour": "习惯窗口内事件最多的当地小时(0–23); 并列取较早的小时",
    "tag.night_owl": "习惯窗口内至少 tags.night_min_share 的事件发生在夜间",
    "tag.active_days_30d": "活跃窗口内有事件、问诊或订单的医院当地天数",
    "tag.services_30d": "活跃窗口内的问诊、已支付订单与权益使用次数",
    "tag.package_activation": "服务包 90 天黄金激活期内的患者: 落后 (未满 5 次且落后于均匀进度)、"
    "进度正常 (未满 5 次) 或已激活 (已满 5 次)",
    "tag.package_uses_short": "90 天激活期内距 5 次使用还差几次 (多个签约取最多者); 已激活为 0",
    "tag.last_active_day": "统计日之前最近的活跃日; 此后没有活跃则为注册日",
    "tag.inactive_days": "最近活跃日到统计日之间的整天数(昨天活跃 = 0)",
    "tag.has_hypertension": "高血压: 来自诊断记录(ICD-10 I10–I15)、问诊诊断或处方",
    "tag.has_diabetes": "糖尿病: 来自诊断记录(ICD-10 E10、E11、E13、E14)、问诊诊断或处方",
    "tag.has_coronary_heart_disease": "冠心病: 来自诊断记录(ICD-10 I20、I25)、问诊诊断或处方",
    "tag.has_copd": "慢阻肺: 来自诊断记录(ICD-10 J44)、问诊诊断或处方",
    "tag.has_asthma": "哮喘: 来自诊断记录(ICD-10 J45)、问诊诊断或处方",
    "tag.has_chronic_kidney_disease": "慢性肾病: 来自诊断记录(ICD-10 N18)、问诊诊断或处方",
    "tag.has_hyperlipidemia": "高脂血症: 来自诊断记录(ICD-10 E78)、问诊诊断或处方",
    "tag.chronic_conditions": "识别出的慢病, 按固定顺序以逗号连接的代码",
    "tag.chronic": "特殊人群: 至少有一种慢病",
    "tag.allergy": "有类别为过敏(allergy)的诊断记录",
    "tag.family_history": "有类别为家族史(family_history)的诊断记录",
    "tag.days_without_bp": "最近一次血压测量到统计日的整天数(空: 从未测量)",
    "tag.days_without_glucose": "最近一次血糖测量到统计日的整天数(空: 从未测量)",
    "tag.health_stage": "治疗期: 处方仍在用药期内或 tags.treatment_days 内有问诊; 康复期: "
    "tags.recovery_days 内接受过治疗; 症状自查期: tags.self_check_days 内"
    "搜索过; 否则为预防期",
    "tag.need_priority": "高: tags.urgent_days 内有血压/血糖异常读数、急症问诊或急症搜索; 中: "
    "慢病患者、治疗期或康复期; 否则为低",
    "tag.lifecycle": "新用户: 注册不超过 lifecycle.new_max_days 天; 流失: 未活跃超过 "
    "churned_min_days 天; 沉默: 未活跃至少 silent_min_days 天; 活跃: 活跃窗口内"
    "活跃天数与服务次数达标; 其余为低频用户",
    "tag.churn_risk": "流失预警: 未活跃至少 lifecycle.churn_risk_days 天, 尚未沉默",
    "tag.churn_score": "0–100: 流失模型预测的在预测期内转为不活跃的概率, 由流失评分存储; "
    "tags.smart_max_age_days 内未评分则为空",
    "tag.churn_reasons": "流失风险分背后的前三个原因(模型自身的贡献), 中文",
    "tag.churn_scored_as_of": "标签所用流失评分的截止日",
    "tag.churn_driver": "流失风险的主因类别 (服务体验、支付失败、需求未满足、需求变化、新用户期、"
    "获益不足或原因不明), 由模型自身的贡献归类",
    "tag.predicted_ltv": "已存储的 CLV 评分在预测期内的预测价值 (BG/NBD + Gamma-Gamma)",
    "tag.ltv_tier_predicted": "预测价值的 LTV 分层 (> value.ltv_high_cny / ≥ value.ltv_mid_cny / "
    "其余)",
    "tag.next_need": "患者下一步可能需要的服务 (下一需求规则与挖掘的关联规则)",
    "tag.health_need": "tags.need_days 内信号最多的需求(并列依次取急症、健康管理、医疗资源、"
    "预防); 没有信号时慢病患者为健康管理型, 其余为预防保健型",
    "tag.data_richness": "医疗数据型: 有诊断、检测、处方、就诊或带诊断的问诊; 行为数据型: 有事件、"
    "问诊或订单; 否则为基础数据型(仅注册)",
    "tag.frequent_consulter": "活跃用户, 且活跃窗口内问诊至少 lifecycle.frequent_consulter_min 次",
    "tag.health_manager": "活跃用户, 且活跃窗口内有设备/体检读数或服务包使用, 或服务包在有效期内",
    "tag.interactive": "活跃用户, 且活跃窗口内有分享、邀请、评论、点赞、发帖或参加活动",
    "tag.active_subgroup": "第一个符合的活跃细分(高频问诊、健康管理、互动参与)",
    "tag.elderly": "特殊人群: 年龄 ≥ tags.elderly_min_age",
    "tag.child": "特殊人群: 年龄 ≤ tags.child_max_age",
    "tag.age": "统计日的周岁年龄(按出生日期; 未知为空)",
    "tag.age_band": "统计日的年龄段; 分段见设置 tags.age_bands",
    "tag.sex": "登记的性别(M/F/U)",
    "tag.region": "登记的地区",
    "tag.registered_days": "注册日(医院时间)到统计日的天数; 昨天注册 = 1",
    "tag.managed_by": "代管该患者的家庭账号(patients.managed_by)",
    "tag.proxy_managed": "该患者的账号由家属代管(代注册)",
    "tag.family_manager": "该患者至少代管一位家庭成员的账号",
    "tag.rfm_recency": "tags.rfm_days 内没有已支付订单为 0; 否则 1 + 满足的 tags.rfm_recency_days "
    "阈值数",
    "tag.rfm_frequency": "tags.rfm_days 内已支付订单数达到的 tags.rfm_frequency 阈值数",
    "tag.rfm_monetary": "tags.rfm_days 内已支付金额达到的 tags.rfm_monetary_cny 阈值数",
    "tag.rfm_score": "R、F、M 三项评分之和(0–15)",
    "tag.health_contribution": "tags.need_days 内分享、邀请与活动次数达到的 tags.contribution "
    "阈值数(0–3)",
    "tag.paid_orders": "统计日之前的全部已支付订单数",
    "tag.spend_cny": "统计日之前已支付订单的金额合计(元)",
    "tag.repurchase_confirmed": "已支付订单至少 tags.repurchase_min_orders 笔",
    "tag.high_spend_unconfirmed": "消费超过 value.ltv_high_cny, 但订单少于 "
    "tags.repurchase_min_orders 笔",
    "tag.ltv_tier": "LTV 模型上线前按消费分层: 超过 value.ltv_high_cny(已确认复购)为高LTV; "
    "不低于 value.ltv_mid_cny 为中LTV; 否则为低LTV",
    "tag.value": "RFM 总分 + 健康贡献度 ≥ tags.value_high_min 且已确认复购为高价值; ≥ "
    "tags.value_mid_min(或高分未确认复购)为中价值; 否则为低价值",
    # metrics
    "metric.new_users": "窗口内注册的患者数(按渠道: source_channel)",
    "metric.cac": "窗口内每位新用户的营销花费; 每位新用户承担其渠道的花费 / 新用户数, 自然渠道"
    "(无花费)为 0, 整体即综合获客成本",
    "metric.precise_reach_rate": "送达目标人群内用户的消息占比(带 in_target 的 message_delivered "
    "事件; 无该属性的事件不计)",
    "metric.funnel": "有序漏斗(默认 注册 → 搜索 → 问诊 → 支付 → 复购): 期内进入第一步的用户在转化"
    "窗口内依次到达各步的人数及各步流失",
    "metric.consult_rate": "窗口内活跃用户中至少问诊一次的占比",
    "metric.booking_rate": "窗口内活跃用户中预约线下就诊(线下问诊或就诊记录)的占比",
    "metric.paid_conversion": "窗口内活跃用户中至少有一笔已支付订单的占比",
    "metric.arpu": "窗口内已支付收入 / 窗口内活跃用户数(不含退款)",
    "metric.cohort_retention": "按注册周或注册月的次日/7日/30日留存(恰好第 n 天); 第 n 天结束后"
    "才计入",
    "metric.d1_retention": "窗口(后移 1 天, 使第 1 天已结束)内注册的用户中, 注册后恰好第 1 天活跃"
    "的占比",
    "metric.d7_retention": "窗口(后移 7 天, 使第 7 天已结束)内注册的用户中, 注册后恰好第 7 天活跃"
    "的占比",
    "metric.d30_retention": "窗口(后移 30 天, 使第 30 天已结束)内注册的用户中, 注册后恰好第 30 天"
    "活跃的占比",
    "metric.mau": "统计日之前 30 天内至少有一个活跃日的用户数",
    "metric.monthly_active_days": "近 30 天月活用户的人均活跃天数",
    "metric.repurchase_rate": "窗口内有已支付订单的用户中, 有两笔及以上的占比",
    "metric.silent_recall_rate": "窗口开始时沉默的用户(最近活跃距今在 lifecycle.silent_min_days "
    "与 churned_min_days 之间)在窗口内重新活跃的占比",
    "metric.share_rate": "窗口内活跃用户中至少分享或邀请一次的占比",
    "metric.invites_per_user": "窗口内被邀请的不同用户数 / 窗口内活跃用户数",
    "metric.invite_conversion": "窗口内发出的邀请中, 被邀请人(统计日前)以邀请人为 referrer_id "
    "注册的占比",
    "metric.k_factor": "人均邀请数 × 邀请转化率: 每位活跃用户的邀请在窗口内带来的新用户",
    "metric.ltv": "统计日前注册的每位患者在全部历史中的已支付收入",
    "metric.roi": "(LTV − CAC) / CAC, 按渠道的历史 LTV 与全期获客成本; > 1 健康, > 3 理想; 无花费"
    "的分组(仅自然流量)无定义",
    "metric.nps": "窗口内 NPS 问卷的净推荐值: 推荐者(分数 ≥ metrics.nps_promoter_min, 9)占比减"
    "贬损者(≤ nps_detractor_max, 6)占比",
    "metric.satisfaction": "窗口内 CSAT 回答(1–5)中不低于 metrics.csat_satisfied_min(4)的占比",
    "metric.complaint_rate": "窗口内投诉工单数 / 窗口内问诊数",
    "metric.first_reply_sla_rate": "窗口内线上问诊中医生首次回复在 metrics.first_reply_sla_s"
    "(600 秒)内的占比",
    "metric.first_reply_mean_s": "窗口内线上问诊医生首次回复的平均秒数",
    "metric.adherence_rate": "窗口内有药品供应的患者中, 用药覆盖率(PDC)不低于 "
    "metrics.adherence_pdc_min(0.8)的占比",
    "metric.pdc_mean": "窗口内处方覆盖天数的平均比例",
    "metric.bp_control_rate": "窗口内有血压读数的患者中, 最近一次收缩压低于 "
    "health.bp_systolic_max(140)且舒张压低于 bp_diastolic_max(90)"
    "的占比",
    "metric.glucose_control_rate": "窗口内有血糖读数(LOINC 2339-0、2345-7、15074-8、14749-6, "
    "mmol/L)的患者中, 最近一次读数低于 "
    "metrics.glucose_control_max_mmol(7.0, 中国 2 型糖尿病指南"
    "空腹目标)的占比",
    "metric.package_activation_rate": "窗口内开始(且距统计日至少 health.package_activation_days"
    " 天)的服务包中, 前 90 天内权益使用达到 "
    "health.package_activation_uses(5)次的占比",
    "metric.renewal_rate": "窗口内结束(且距统计日至少 metrics.renewal_grace_days 天)的服务包中"
    "被续费的占比: 之后有 renewal_of 指向它的服务包, 或同一患者同一服务包"
    "在宽限期内开始; 取消与退款的不计",
}

#: breakdowns that are channels: their groups read as channel labels
CHANNEL_BREAKDOWNS = frozenset({"channel", "source_channel"})
UNKNOWN_GROUP = "(unknown)"


def _pick(entry: tuple[str, str], lang: str) -> str:
    return entry[1] if lang == "en" else entry[0]


def has(key: str) -> bool:
    """Whether the catalogue names `key`."""
    return key in CATALOGUE


def label(key: str, lang: str = "zh", **fields: object) -> str:
    """The label of `key` in `lang` (`zh` unless `en`), with `{fields}` filled in when given.

    An unknown key is a programmer error (KeyError): every shown word has an entry."""
    text = _pick(CATALOGUE[key], lang)
    return text.format(**fields) if fields else text


def label_or(key: str, default: str, lang: str = "zh") -> str:
    """The label of `key`, or `default` when the catalogue does not name it."""
    entry = CATALOGUE.get(key)
    return default if entry is None else _pick(entry, lang)


def section(prefix: str) -> dict[str, tuple[str, str]]:
    """The entries under `prefix.` with the prefix removed (`section("ingest")["table"]`)."""
    cut = len(prefix) + 1
    return {k[cut:]: v for k, v in CATALOGUE.items() if k.startswith(prefix + ".")}


def scoped(prefix: str) -> Callable[..., str]:
    """The lookup of one section: `scoped("page")("nav.overview", lang)` is
    `label("page.nav.overview", lang)` — for a shell that names only its own words."""

    def lookup(key: str, lang: str = "zh", **fields: object) -> str:
        return label(f"{prefix}.{key}", lang, **fields)

    lookup.__doc__ = f"The label of `{prefix}.<key>` in `lang`, with `{{fields}}` filled in."
    return lookup


def words(prefix: str, lang: str = "zh") -> dict[str, str]:
    """The entries under `prefix.` in `lang`, prefix removed, for a template (`t.title`)."""
    return {k: _pick(v, lang) for k, v in section(prefix).items()}


# ---- tags and layers ---------------------------------------------------------------------


def tag_label(name: str, lang: str = "zh") -> str:
    """A tag's name as people read it (生命周期 / Lifecycle); unknown tags read as their name."""
    return label_or(f"tag.{name}", name, lang)


def layer_label(dimension: str, lang: str = "zh") -> str:
    """A layer dimension's name (the four layers are tags: lifecycle, health_need, value,
    data_richness)."""
    return tag_label(dimension, lang)


def value_label(tag: str, code: object, lang: str = "zh") -> str:
    """A tag value as people read it: 低频用户 for lifecycle `occasional`, 是/否 for a flag;
    a value the catalogue does not know reads as itself, None as ``."""
    if code is None:
        return ""
    if isinstance(code, bool):
        return yes_no(code, lang)
    return label_or(f"value.{tag}.{code}", str(code), lang)


def tag_description(name: str, lang: str = "zh") -> str:
    """What a tag means: Chinese from this catalogue, English from the tag's definition."""
    return _description("tag", name, lang)


def yes_no(value: bool, lang: str = "zh") -> str:
    return label("word.yes" if value else "word.no", lang)


# ---- metrics -----------------------------------------------------------------------------


def metric_label(name: str, lang: str = "zh") -> str:
    """A metric's name (7日留存 / D7 retention); unknown metrics read as their name."""
    return label_or(f"metric.{name}", name, lang)


def metric_description(name: str, lang: str = "zh") -> str:
    """What a metric means: Chinese from this catalogue, English from its definition."""
    return _description("metric", name, lang)


def category_label(category: str, lang: str = "zh") -> str:
    return label_or(f"category.{category}", category, lang)


def unit_label(unit: str, lang: str = "zh") -> str:
    return label_or(f"unit.{unit}", unit, lang)


def funnel_step_label(code: str, lang: str = "zh") -> str:
    """A funnel step (注册, 支付); `event:NAME` reads as 事件 NAME."""
    if code.startswith("event:"):
        return label("word.event", lang, name=code[len("event:") :])
    return label_or(f"funnel_step.{code}", code, lang)


def window_text(days: int | None, lang: str = "zh") -> str:
    """The look-back a metric used: 近365天 / last 365 days; 累计 / all history without one."""
    if days is None:
        return label("word.all_history", lang)
    return label("word.last_days", lang, days=days)


# ---- channels and breakdown groups -------------------------------------------------------


def channel_label(code: str | None, lang: str = "zh") -> str:
    """An acquisition channel (抖音 for `douyin`); unknown channels read as their code."""
    if code is None or code == UNKNOWN_GROUP:
        return label("word.unknown", lang)
    return label_or(f"channel.{code}", str(code), lang)


def code_label(field: str, code: str | None, lang: str = "zh") -> str:
    """A coded value of a canonical table (`mode` video → 视频问诊, `order_status` paid →
    已支付); unknown codes read as themselves."""
    if code is None:
        return label("word.unknown", lang)
    return label_or(f"{field}.{code}", str(code), lang)


def contact_channel_label(code: str, lang: str = "zh") -> str:
    """A message channel (短信 for `sms`)."""
    return label_or(f"contact_channel.{code}", code, lang)


def by_label(by: str | None, lang: str = "zh") -> str:
    """A breakdown's name: 渠道 for `channel`, a tag's label (生命周期), else the name."""
    if by is None:
        return label("word.group", lang)
    return label_or(f"by.{by}", tag_label(by, lang), lang)


def group_label(by: str | None, code: str | None, lang: str = "zh") -> str:
    """A group of a breakdown: a channel's or a tag value's label, else the code; unknown
    (None or `(unknown)`) reads as 未知."""
    if code is None or code == UNKNOWN_GROUP:
        return label("word.unknown", lang)
    if by in CHANNEL_BREAKDOWNS:
        return channel_label(code, lang)
    return value_label(by, code, lang) if by else str(code)


# ---- completeness ------------------------------------------------------------------------


def _description(kind: str, name: str, lang: str) -> str:
    if lang != "en" and f"{kind}.{name}" in DESCRIPTIONS_ZH:
        return DESCRIPTIONS_ZH[f"{kind}.{name}"]
    return _definition(kind, name) or DESCRIPTIONS_ZH.get(f"{kind}.{name}", "")


def _definition(kind: str, name: str) -> str:
    """The English description beside the definition of tag or metric `name` ('' if none)."""
    if kind == "tag":
        from careops.tags.registry import REGISTRY, all_tags

        all_tags()
        found = REGISTRY.get(name)
    else:
        from careops.metrics.registry import REGISTRY as METRICS
        from careops.metrics.registry import all_metrics

        all_metrics()
        found = METRICS.get(name)
    return found.description if found is not None else ""


def missing(keys: Iterable[str]) -> list[str]:
    """Those of `keys` the catalogue lacks (for tests and `careops doctor`-style checks)."""
    return [k for k in keys if k not in CATALOGUE]
