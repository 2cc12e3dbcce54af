"""careaccess: identity and access governance for health and social care."""
