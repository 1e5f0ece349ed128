"""Price models: exact, seeded, reproducible geometric Brownian motion, vectorised with numpy.

This package knows nothing of networks or event loops; the streamer builds on it.
"""

from simulation.bank import StreamBank
from simulation.errors import MarketError, ParamError, SimulationError
from simulation.gbm import CatchUp, PathCursor, generator, path, step_factors
from simulation.market import Market, SymbolSpec, demo_market, load_market, session_start
from simulation.params import TRADING_DAYS_PER_YEAR, GBMParams

__all__ = [
    "TRADING_DAYS_PER_YEAR", "CatchUp", "GBMParams", "Market", "MarketError", "ParamError", "PathCursor",
    "SimulationError", "StreamBank", "SymbolSpec", "demo_market", "generator", "load_market",
    "path", "session_start", "step_factors",
]
