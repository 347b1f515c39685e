"""Running generated code: the trial folder (`layout`), what the code sees (`view`), the sandbox backends
(`backends`: bubblewrap, or none), one confined execution (`runner`), and the harness's safe access to the
folders the code wrote (`trial_files`). Kept free of imports, so the plugin's workers start fast."""
