"""Write the two AnnData fixtures of tests/test_h5ad.py with the real ``anndata`` package.

anndata needs pandas<3, so this runs in a separate environment, not in the test suite::

    python3.11 -m venv /tmp/advenv && /tmp/advenv/bin/pip install anndata "pandas<3"
    cd tests/data && /tmp/advenv/bin/python make_anndata_fixtures.py

Written with anndata 0.12.19, h5py 3.16.0, pandas 2.3.3. The values are made up.
"""

import anndata as ad
import numpy as np
import pandas as pd
from scipy import sparse

X = np.array(
    [
        [1.5, -70.0, np.nan, 0.25],
        [2.0, -65.5, 12.0, 0.5],
        [0.5, -80.25, 3.0, 0.0],
        [4.0, -60.0, 7.5, 1.0],
        [3.25, -72.0, 9.0, 0.75],
    ]
)
obs = pd.DataFrame(
    {
        "subclass": pd.Categorical(["Pvalb", "Sst", "Pvalb", "Vip", "Lamp5"]),
        "donor": ["d1", "d1", "d2", "d2", "d3"],
        "n_sweeps": pd.array([12, None, 9, 11, 10], dtype="Int64"),
        "passed": [True, True, False, True, True],
    },
    index=pd.Index(["cell_a", "cell_b", "cell_c", "cell_d", "cell_e"]),
)
var = pd.DataFrame(index=["tau", "v_baseline", "rheobase_i", "sag"])
ipfx = pd.DataFrame({"tau": X[:, 0] * 2, "v_baseline": X[:, 1], "sag": X[:, 3]}, index=obs.index)
dense = ad.AnnData(
    X=X, obs=obs, var=var, obsm={"ipfx": ipfx, "X_pca": np.arange(10.0).reshape(5, 2)}
)
dense.write_h5ad("anndata_dense.h5ad")
csr = dense.copy()
csr.X = sparse.csr_matrix(np.nan_to_num(X))
csr.write_h5ad("anndata_csr.h5ad", compression="gzip")
