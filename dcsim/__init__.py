"""dcsim: dcsim."""
