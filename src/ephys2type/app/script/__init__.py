"""The file Streamlit runs (:mod:`.ephys2type_page`). It sits alone in this folder because
Streamlit puts the folder of the script it runs first on ``sys.path``."""
