"""sinks/influxdb"""
