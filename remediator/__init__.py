"""remediator: observe, diagnose, plan, act and verify a docker-compose dev environment.

The package is split into rooms (see README.md): ``model`` and ``loader`` give the typed, validated
form of inventory, checks and playbooks; ``probes`` observe; ``actions`` change; ``backends`` talk to
the outside; ``planner`` is the only place that decides; ``report`` renders results.
"""

__version__ = "0.1.0"
