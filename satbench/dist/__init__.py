"""Multi-process runtime: communication (:mod:`.comm`) and worker launch (:mod:`.launch`)."""
