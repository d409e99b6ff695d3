//! Monte Carlo simulator.
