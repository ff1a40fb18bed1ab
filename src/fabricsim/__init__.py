"""fabricsim: plan and simulate the networks of AI clusters."""

__version__ = "0.1.0"


def run(scenario=None, overrides=()):
    """Plan, cost and simulate a scenario (file path, Scenario, or None for the default). See fabricsim.api."""
    from fabricsim.api import run as _run

    return _run(scenario, overrides)
