"""sinks/sqlite"""
