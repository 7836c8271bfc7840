"""Fixtures shared by the hwsim tests.

No test here imports benchmarks/ (issue 17 item 4): the LUT / T-MAC tests hold
`hwsim.evaluate_workload` and the core models, with their reference figures in tests/data/."""
