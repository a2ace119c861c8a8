"""`python -m benchmarks.reliability`: what the reference server and the harness promise under
faults, measured on this machine (fuzz volume, soak, client-fault storm, overload, hostile
servers); writes docs/reliability.md."""
