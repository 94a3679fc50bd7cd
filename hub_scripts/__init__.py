"""Command-line tools of the umt project: `umt-train`, `umt-evaluate`, `umt-predict`, `umt-export`, `umt-push` and
`umt-demo` (each also `python -m hub_scripts.<name>`), with the entity-level metric, the results file and the model
card they share."""
