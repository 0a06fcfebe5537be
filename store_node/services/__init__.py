"""The store's use cases: each loads, decides in the domain, saves and writes its event in one transaction."""
