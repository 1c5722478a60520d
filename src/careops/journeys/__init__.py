"""Journeys (自动化旅程): automated outreach that obeys consent, caps and quiet hours.

- `definition`: journey YAML → validated models (errors at FILE:LINE:COLUMN); `yamlsafe`
  reads hostile YAML safely; `webhooks` is the allow-list guard of webhook steps.
- `compliance`: the medical-advertising copy checker run on every template.
- `policy`: set-wise send decisions (send / defer / suppress with a reason); `inputs` reads
  its consents and profiles from the warehouse.
- `catalogue`: the shipped SOP templates and the hospital's own files.
See docs/journeys.md.
"""
