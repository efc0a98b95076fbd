"""The script Streamlit runs for ``ephys2type app``; every browser event reruns it."""

from ephys2type.app.page import render

render()
