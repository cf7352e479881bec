from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('licences', '0001_initial')]

    initial = False

    operations = [
        ops.AddIndex(
            model_name='ConsentGrant',
            index=Index(fields=['licence_id']),
        ),
    ]
