"""Training a route pack: LoRA agent skills + depth robustness (``adapter``), then the router.

``agentroute train`` runs ``pipeline.train_pack``; each stage caches its work under ``OUT/work``
so an interrupted run resumes where it stopped.
"""
