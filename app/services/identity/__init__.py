"""Identity: WeChat login and sessions, real name, phone, face verification, roles, audit."""
