# Reference for tests/engine_scipy.rs: reads per-user values exported by the engine (argv[1]) and
# prints, per metric and treatment, scipy's Welch test (or the two-proportion z-test for
# percent_users) against the baseline, as JSON.
import json
import sys

import numpy as np
from scipy import stats

data = json.load(open(sys.argv[1]))
out = []
for m in data["metrics"]:
    base = np.asarray(m["baseline"], dtype=float)
    rows = []
    for t in m["treatments"]:
        x = np.asarray(t, dtype=float)
        if m["kind"] == "percent_users":
            p0, p1 = base.mean(), x.mean()
            se = np.sqrt(p0 * (1 - p0) / len(base) + p1 * (1 - p1) / len(x))
            z = (p1 - p0) / se
            rows.append({"t": float(z), "df": None, "p": float(2 * stats.norm.sf(abs(z)))})
        else:
            res = stats.ttest_ind(x, base, equal_var=False)
            va, vb = x.var(ddof=1) / len(x), base.var(ddof=1) / len(base)
            df = (va + vb) ** 2 / (va**2 / (len(x) - 1) + vb**2 / (len(base) - 1))
            rows.append({"t": float(res.statistic), "df": float(df), "p": float(res.pvalue)})
    out.append(rows)
json.dump(out, sys.stdout)
