"""The code the web tier and both Lambdas share: settings, records, storage, events and the job skeleton.

Nothing here imports Flask or knows it runs inside Lambda, and nothing connects at import time.
"""
