from tortoise import migrations
from tortoise.migrations import operations as ops
from orjson import loads
from tortoise.fields.base import OnDelete
from tortoise.fields.data import JSON_DUMPS
from tortoise import fields

class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name='Bundle',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('slug', fields.CharField(unique=True, max_length=40)),
                ('title', fields.CharField(max_length=60)),
                ('description', fields.CharField(default='', max_length=300)),
                ('audiences', fields.JSONField(default=list, encoder=JSON_DUMPS, decoder=loads)),
                ('region_code', fields.CharField(max_length=12)),
                ('basic_codes', fields.JSONField(default=list, encoder=JSON_DUMPS, decoder=loads)),
                ('status', fields.CharField(default='draft', max_length=12)),
                ('revision', fields.IntField(default=1)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'catalogue_bundles', 'app': 'catalogue', 'pk_attr': 'id', 'table_description': 'An 一件事 bundle: standard items of several departments done as one, in flow order.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='CatalogueChange',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('actor_id', fields.BigIntField(null=True)),
                ('entity', fields.CharField(max_length=12)),
                ('entity_key', fields.CharField(db_index=True, max_length=40)),
                ('action', fields.CharField(max_length=12)),
                ('changes', fields.JSONField(default=dict, encoder=JSON_DUMPS, decoder=loads)),
            ],
            options={'table': 'catalogue_changes', 'app': 'catalogue', 'pk_attr': 'id', 'table_description': 'Who changed what in the catalogue, and when.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Department',
            fields=[
                ('code', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=18)),
                ('name', fields.CharField(max_length=100)),
                ('kind', fields.CharField(default='', max_length=40)),
                ('region_code', fields.CharField(db_index=True, max_length=12)),
            ],
            options={'table': 'catalogue_departments', 'app': 'catalogue', 'pk_attr': 'code', 'table_description': 'A government body that implements service items, keyed by its credit code.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Region',
            fields=[
                ('code', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=12)),
                ('name', fields.CharField(max_length=50)),
                ('level', fields.CharField(max_length=12)),
                ('parent_code', fields.CharField(null=True, db_index=True, max_length=12)),
                ('phone_area_code', fields.CharField(default='', max_length=8)),
            ],
            options={'table': 'catalogue_regions', 'app': 'catalogue', 'pk_attr': 'code', 'table_description': 'An administrative division with its GB/T 2260 code, in a tree by parent_code.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ServiceItem',
            fields=[
                ('code', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=40)),
                ('basic_code', fields.CharField(db_index=True, max_length=20)),
                ('name', fields.CharField(max_length=200)),
                ('item_type', fields.CharField(max_length=20)),
                ('department_code', fields.CharField(db_index=True, max_length=18)),
                ('region_code', fields.CharField(db_index=True, max_length=12)),
                ('audiences', fields.JSONField(default=list, encoder=JSON_DUMPS, decoder=loads)),
                ('aliases', fields.JSONField(default=list, encoder=JSON_DUMPS, decoder=loads)),
                ('guide', fields.JSONField(default=dict, encoder=JSON_DUMPS, decoder=loads)),
                ('status', fields.CharField(default='draft', db_index=True, max_length=12)),
                ('revision', fields.IntField(default=1)),
                ('published_revision', fields.IntField(null=True)),
                ('draft', fields.JSONField(null=True, encoder=JSON_DUMPS, decoder=loads)),
                ('views', fields.BigIntField(default=0)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
                ('published_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'catalogue_items', 'app': 'catalogue', 'pk_attr': 'code', 'table_description': 'One implemented service item (implementation code) and its guide.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ServiceItemVersion',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('item_code', fields.CharField(db_index=True, max_length=40)),
                ('revision', fields.IntField()),
                ('content', fields.JSONField(encoder=JSON_DUMPS, decoder=loads)),
                ('published_by', fields.BigIntField(null=True)),
                ('published_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'catalogue_item_versions', 'app': 'catalogue', 'unique_together': (('item_code', 'revision'),), 'pk_attr': 'id', 'table_description': 'An immutable snapshot of an item as it was published.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Zone',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('slug', fields.CharField(unique=True, max_length=40)),
                ('title', fields.CharField(max_length=40)),
                ('icon', fields.CharField(default='', max_length=200)),
                ('description', fields.CharField(default='', max_length=200)),
                ('audiences', fields.JSONField(default=list, encoder=JSON_DUMPS, decoder=loads)),
                ('region_code', fields.CharField(max_length=12)),
                ('publish_from', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('publish_until', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('status', fields.CharField(default='draft', max_length=12)),
                ('position', fields.IntField(default=0)),
                ('revision', fields.IntField(default=1)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'catalogue_zones', 'app': 'catalogue', 'pk_attr': 'id', 'table_description': 'A theme zone on the home page, shown in its region and below, within its window.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ZoneEntry',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('zone', fields.ForeignKeyField('catalogue.Zone', source_field='zone_id', db_constraint=True, to_field='id', related_name='entries', on_delete=OnDelete.CASCADE)),
                ('position', fields.IntField()),
                ('kind', fields.CharField(max_length=10)),
                ('basic_code', fields.CharField(null=True, max_length=20)),
                ('bundle_slug', fields.CharField(null=True, max_length=40)),
                ('title', fields.CharField(default='', max_length=60)),
            ],
            options={'table': 'catalogue_zone_entries', 'app': 'catalogue', 'pk_attr': 'id', 'table_description': 'One tile of a zone: a standard item (by basic code) or a bundle, in display order.'},
            bases=['Model'],
        ),
    ]
