"""dcsim: hw."""
