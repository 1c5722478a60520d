"""Interface words of the experiment commands: the `experiment.*` section of the label
catalogue (`careops.labels`)."""

from __future__ import annotations

from careops.labels import scoped

#: `label(key, lang)`: the catalogue's `experiment.<key>`
label = scoped("experiment")
