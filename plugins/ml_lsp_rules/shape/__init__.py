"""Shape rules: each names one kind of contradiction the static shape engine proves
(``ShapeConflict.kind``); the engine does the proving, the rule gives it a code, a
severity and docs."""
