"""Streamlit UI (run with `marktwijzer ui`)."""
