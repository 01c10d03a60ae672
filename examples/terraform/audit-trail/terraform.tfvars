reader_roles = ["security-audit", "incident-response"]
