"""The cockpit's words: the `page.*` section of the one label catalogue (`careops.labels`).

Views call `text("nav.overview", lang)`, templates `t("nav.overview")`; the words themselves
are in the catalogue beside the domain words, in Chinese and English.
"""

from __future__ import annotations

from careops.labels import scoped

#: `text(key, lang, **fields)`: the catalogue's `page.<key>`
text = scoped("page")
