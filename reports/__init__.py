"""dcsim: reports."""
