"""flyer.data: the point-in-time A-share market store and its sources (sim, files, akshare)."""
