"""Synthetic heads and bodies with exact labels, and writers of small samples in each raw format."""
