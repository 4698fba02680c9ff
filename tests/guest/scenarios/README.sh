# Sourced by /init (tests/guest/init) before the scenario runs: one file per
# device type defines scenario_NAME functions (vstest.scenario=NAME, with '-'
# read as '_'), using init's result/finish/fail/param/wait_until. This file
# only documents the convention.
