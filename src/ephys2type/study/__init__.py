"""Study layer: the reproduction of the paper (stages, presets as TOML), the sparse-PCA
separation analysis and the HTML/Markdown report."""
