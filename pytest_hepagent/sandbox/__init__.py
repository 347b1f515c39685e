"""Running generated code: the trial folder (`layout`), confinement (`isolation`, `cgroups`, `confine`) and the
confined execution (`runner`). Kept free of imports, so the launcher starts fast."""
