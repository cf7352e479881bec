from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('catalogue', '0001_initial')]

    initial = False

    operations = [
        ops.CreateModel(
            name='CatalogueVersion',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('version', fields.BigIntField(default=0)),
            ],
            options={'table': 'catalogue_version', 'app': 'catalogue', 'pk_attr': 'id', 'table_description': 'The catalogue version, one row: every change residents can see bumps it, every worker polls it.'},
            bases=['Model'],
        ),
    ]
