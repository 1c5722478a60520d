"""The operations cockpit (运营驾驶舱): server-rendered pages over the service layer.

`pages` (the shells: query checks, session, errors as pages), `views` (what each page shows,
from the domain services the API calls), `session` (the cookie carrying the API's token, CSRF),
`texts` (the pages' own words, zh and en), `charts` (ECharts options in the report's style).
"""
