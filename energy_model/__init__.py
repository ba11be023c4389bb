"""dcsim: energy_model."""
