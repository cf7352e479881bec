from tortoise import migrations
from tortoise.migrations import operations as ops
from orjson import loads
from tortoise.fields.base import OnDelete
from tortoise.fields.data import JSON_DUMPS
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name='LicenceIssuer',
            fields=[
                ('credit_code', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=18)),
                ('name', fields.CharField(max_length=100)),
                ('region_code', fields.CharField(max_length=6)),
                ('licence_types', fields.JSONField(default=list, encoder=JSON_DUMPS, decoder=loads)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'licence_issuers', 'app': 'licences', 'pk_attr': 'credit_code', 'table_description': 'An issuing authority, known by its unified social credit code.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='LicenceIssuerKey',
            fields=[
                ('kid', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=16)),
                ('issuer', fields.ForeignKeyField('licences.LicenceIssuer', source_field='issuer_id', db_constraint=True, to_field='credit_code', related_name='keys', on_delete=OnDelete.RESTRICT)),
                ('certificate_pem', fields.TextField(unique=False)),
                ('not_before', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('not_after', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('signs_from', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('retired_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'licence_issuer_keys', 'app': 'licences', 'pk_attr': 'kid', 'table_description': 'An issuer signing key by its certificate. The signing window of a new key starts while'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='LicenceType',
            fields=[
                ('code', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=21)),
                ('name', fields.CharField(max_length=100)),
                ('department', fields.CharField(max_length=100)),
                ('holder_kind', fields.CharField(max_length=16)),
                ('identity_class', fields.BooleanField(default=False)),
                ('field_schema', fields.JSONField(default=dict, encoder=JSON_DUMPS, decoder=loads)),
                ('qr_fields', fields.JSONField(default=list, encoder=JSON_DUMPS, decoder=loads)),
                ('visible_fields', fields.JSONField(default=dict, encoder=JSON_DUMPS, decoder=loads)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'licence_types', 'app': 'licences', 'pk_attr': 'code', 'table_description': 'A kind of licence, with its field schema, its QR fields and what each reader may see.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Licence',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('identifier', fields.CharField(unique=True, max_length=128)),
                ('licence_type', fields.ForeignKeyField('licences.LicenceType', source_field='licence_type_id', db_constraint=True, to_field='code', related_name='licences', on_delete=OnDelete.RESTRICT)),
                ('issuer', fields.ForeignKeyField('licences.LicenceIssuer', source_field='issuer_id', db_constraint=True, to_field='credit_code', related_name='licences', on_delete=OnDelete.RESTRICT)),
                ('holder_kind', fields.CharField(max_length=16)),
                ('holder_index', fields.CharField(null=True, db_index=True, max_length=64)),
                ('holder_credit_code', fields.CharField(null=True, db_index=True, max_length=18)),
                ('holder_name', fields.CharField(max_length=200)),
                ('region_code', fields.CharField(max_length=6)),
                ('data', fields.JSONField(default=dict, encoder=JSON_DUMPS, decoder=loads)),
                ('valid_from', fields.DateField()),
                ('valid_until', fields.DateField(null=True)),
                ('status', fields.CharField(default='active', max_length=16)),
                ('status_changed_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('source', fields.CharField(max_length=16)),
                ('content_hash', fields.CharField(max_length=64)),
                ('issued_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'licences', 'app': 'licences', 'indexes': [Index(fields=['status', 'status_changed_at'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ConsentGrant',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('licence', fields.ForeignKeyField('licences.Licence', source_field='licence_id', db_constraint=True, to_field='id', related_name='consents', on_delete=OnDelete.CASCADE)),
                ('granted_by_id', fields.BigIntField(db_index=True)),
                ('department', fields.CharField(max_length=100)),
                ('purpose', fields.CharField(max_length=200)),
                ('code_hash', fields.CharField(unique=True, max_length=64)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('revoked_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('used_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('used_by_id', fields.BigIntField(null=True)),
            ],
            options={'table': 'licence_consents', 'app': 'licences', 'pk_attr': 'id', 'table_description': 'A holder lets a department read one licence once, for a stated purpose, until expiry.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Inspection',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('licence', fields.ForeignKeyField('licences.Licence', source_field='licence_id', null=True, db_constraint=True, to_field='id', related_name='inspections', on_delete=OnDelete.CASCADE)),
                ('inspector_id', fields.BigIntField(db_index=True)),
                ('at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('valid', fields.BooleanField()),
                ('reason', fields.CharField(null=True, max_length=32)),
                ('token_id', fields.CharField(null=True, max_length=64)),
                ('accepted_token_id', fields.CharField(null=True, unique=True, max_length=64)),
                ('location', fields.JSONField(null=True, encoder=JSON_DUMPS, decoder=loads)),
            ],
            options={'table': 'licence_inspections', 'app': 'licences', 'indexes': [Index(fields=['licence_id', 'at'])], 'pk_attr': 'id', 'table_description': 'One check of a presented code by an inspector, whatever its outcome.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='LicenceEvent',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('licence', fields.ForeignKeyField('licences.Licence', source_field='licence_id', db_constraint=True, to_field='id', related_name='events', on_delete=OnDelete.CASCADE)),
                ('kind', fields.CharField(max_length=24)),
                ('from_status', fields.CharField(null=True, max_length=16)),
                ('to_status', fields.CharField(max_length=16)),
                ('actor_id', fields.BigIntField(null=True)),
                ('reason', fields.CharField(default='', max_length=200)),
                ('at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'licence_events', 'app': 'licences', 'pk_attr': 'id', 'table_description': 'History: every issuance and status change, append-only.'},
            bases=['Model'],
        ),
    ]
