"""Example data: a deterministic generator of synthetic Vietnamese health records
(`examples.generator`) and the demo data set it writes (`examples/demo/demo-bundle.json`)."""
