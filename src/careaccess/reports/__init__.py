"""Reports, CSV export and the RA manager's bulk operations."""
