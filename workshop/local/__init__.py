"""The local AWS: a moto server plus the runtime for the hops moto does not run."""
