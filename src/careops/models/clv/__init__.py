"""Customer lifetime value: BG/NBD repeat purchases, Gamma-Gamma spend, per-customer value.

- `bgnbd.BetaGeo`: Fader, Hardie & Lee (2005), "Counting your customers the easy way".
- `gammagamma.GammaGamma`: Fader, Hardie & Lee (2005), "RFM and CLV" (spend per purchase).
- `summary`: a transaction log → per-customer (x, t_x, T, mean spend), from a file or arrays.
- `fit`: the file door (`careops clv fit`); `score`: the warehouse door (`careops clv score`).
"""

from careops.models.clv.bgnbd import BetaGeo
from careops.models.clv.gammagamma import GammaGamma

__all__ = ["BetaGeo", "GammaGamma"]
