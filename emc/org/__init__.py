"""Organisation: regions, institutions, ESCOs, users and who may see what."""
