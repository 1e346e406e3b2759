"""An independent cash-application benchmark: files a bank would send, and the truth kept apart.

Written without reading the matcher (cashapp/matching) or the generator it was tuned on
(bench/cashapp_data.py), so its figures are evidence rather than a replay of the tuning set.
See NOISE.md for the noise catalogue and bench/README.md for the figures.
"""
