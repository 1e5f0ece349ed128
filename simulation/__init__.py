"""Price models: exact, seeded, reproducible, vectorised with numpy, the same bits on every CPU.

GBM, Merton jump diffusion, Heston stochastic volatility and a mean-reverting (OU) log price.
This package knows nothing of networks or event loops; the streamer builds on it.
"""

from simulation.bank import StreamBank
from simulation.errors import MarketError, ParamError, SimulationError
from simulation.market import Market, SymbolSpec, demo_market, load_market, session_start
from simulation.params import (
    MODELS,
    TRADING_DAYS_PER_YEAR,
    GBMParams,
    HestonParams,
    MertonParams,
    ModelParams,
    OUParams,
)
from simulation.walk import CatchUp, PathCursor, Walk, generator, path, path_and_vols

__all__ = [
    "MODELS", "TRADING_DAYS_PER_YEAR", "CatchUp", "GBMParams", "HestonParams", "Market",
    "MarketError", "MertonParams", "ModelParams", "OUParams", "ParamError", "PathCursor",
    "SimulationError", "StreamBank", "SymbolSpec", "Walk", "demo_market", "generator",
    "load_market", "path", "path_and_vols", "session_start",
]
